"""The gateway's scenario files (scenarios/gateway-*.yaml) play as their comments say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.app import simulator_app
from gateway.events import EventKind
from gateway.sim.scenario import load_scenario
from gateway.sim.simulator import Simulator
from tests.app.harness import AUTH_TOKEN, WYANDOTTE_KEY, Harness, assert_caller_never_dropped, said

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_the_kansas_city_scenario_rolls_over_to_the_statewide_line(harness: Harness) -> None:
    timeline = harness.sim.run(load_scenario(SCENARIOS / "gateway-kansas-city-rollover.yaml"))

    assert_caller_never_dropped(timeline)
    assert not timeline.connected("caller", "kc-kansas")
    assert timeline.connected("caller", "ks-statewide")
    assert harness.kinds().count(EventKind.ROLLOVER) == 1


def test_the_every_center_fails_scenario_keeps_the_caller_with_911(harness: Harness) -> None:
    timeline = harness.sim.run(load_scenario(SCENARIOS / "gateway-every-center-fails.yaml"))

    assert_caller_never_dropped(timeline)
    assert timeline.connections("caller") == []
    assert "We could not reach a 9 8 8 counselor" in said(timeline, "caller")[-1]


def test_the_simulator_factory_builds_the_gateway_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, gateway_redis: redis.Redis
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PSAP_API_KEYS", f"wyandotte-911:{WYANDOTTE_KEY}")
    monkeypatch.setenv("GATEWAY_PHONE_NUMBER", "+19135550150")
    holder: dict[str, Any] = {}
    sim = Simulator(app=lambda env, start: holder["app"](env, start), auth_token=AUTH_TOKEN)
    holder["app"] = simulator_app(sim)

    timeline = sim.run(load_scenario(SCENARIOS / "gateway-kansas-city-rollover.yaml"))

    assert_caller_never_dropped(timeline)
    assert timeline.connected("caller", "ks-statewide")


def test_the_escalation_scenario_brings_911_back_through_the_alternate(harness: Harness) -> None:
    timeline = harness.sim.run(load_scenario(SCENARIOS / "gateway-escalation-bounce-back.yaml"))

    assert_caller_never_dropped(timeline)
    assert timeline.connected("caller", "kc-kansas")
    assert timeline.connected("caller", "psap-alternate")
    assert timeline.connected("kc-kansas", "psap-alternate")
    assert not timeline.connected("caller", "psap-escalation")
    assert harness.kinds().count(EventKind.ESCALATION_ANSWERED) == 1
    assert "Callback number not given." in said(timeline, "psap-alternate")[0]
