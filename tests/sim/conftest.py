"""Helpers for the simulator's tests: build a scenario, run it against a TwiML app."""

from __future__ import annotations

from typing import Any

from flask import Flask

from gateway.sim.scenario import Scenario, scenario_from_dict
from gateway.sim.simulator import Simulator
from gateway.sim.timeline import Timeline
from tests.sim.apps import AUTH_TOKEN, GATEWAY_NUMBER, PSAP, Seen, twiml_app


def scenario(
    caller_actions: list[dict[str, Any]] | None = None,
    lines: list[dict[str, Any]] | None = None,
    **top: Any,
) -> Scenario:
    """A scenario whose caller is the fictional PSAP calling the gateway's number."""
    caller: dict[str, Any] = {"from": PSAP, "to": GATEWAY_NUMBER, "actions": caller_actions or []}
    caller.update(top.pop("caller", {}))
    data = {
        "name": "test",
        "caller": caller,
        "lines": lines or [],
        "app": top.pop("app", {"voice_url": "/voice"}),
        **top,
    }
    return scenario_from_dict(data)


def play(documents: dict[str, str], plan: Scenario) -> tuple[Timeline, Seen]:
    """Run `plan` against an app serving fixed TwiML documents."""
    seen = Seen()
    sim = Simulator(app=twiml_app(documents, seen), auth_token=AUTH_TOKEN)
    return sim.run(plan), seen


def in_process(app: Flask) -> Simulator:
    """A simulator calling `app` in process."""
    return Simulator(app=app, auth_token=AUTH_TOKEN)
