"""Helpers for the simulator's tests: build a scenario, run it against a TwiML app."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from carrier_sim.scenario import Scenario, scenario_from_dict
from carrier_sim.simulator import Simulator
from carrier_sim.timeline import Timeline
from tests.carrier_sim.apps import AUTH_TOKEN, GATEWAY_NUMBER, PSAP, Seen, twiml_app


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


# (method, path with query, form, headers) of each request a `served` app received.
Received = list[tuple[str, str, dict[str, str], dict[str, str]]]


@pytest.fixture
def served() -> Iterator[tuple[str, Received, dict[str, Any]]]:
    """A threaded HTTP server recording each request; `behaviour` changes its answer."""
    seen: Received = []
    behaviour: dict[str, Any] = {"delay": 0.0, "status": 200, "type": "text/xml"}

    @Request.application
    def app(request: Request) -> Response:
        seen.append(
            (request.method, request.full_path, request.form.to_dict(), dict(request.headers))
        )
        time.sleep(behaviour["delay"])
        body = "<Response><Say>Grüß Gott</Say></Response>"
        return Response(body, status=behaviour["status"], content_type=behaviour["type"])

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", seen, behaviour
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
