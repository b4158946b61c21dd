"""Drills played on the carrier simulator are marked as drills all the way to the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from carrier_sim.scenario import load_scenario
from carrier_sim.simulator import Simulator
from gateway.app import simulator_app
from gateway.settings import Settings, SettingsError
from tests.app.harness import AUTH_TOKEN, WYANDOTTE_KEY, Harness

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "gateway-happy-path.yaml"


def test_every_event_of_a_simulated_call_is_marked_as_a_drill(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, gateway_redis: redis.Redis
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PSAP_API_KEYS", f"wyandotte-911:{WYANDOTTE_KEY}")
    monkeypatch.setenv("GATEWAY_PHONE_NUMBER", "+19135550150")
    holder: dict[str, Any] = {}
    sim = Simulator(app=lambda env, start: holder["app"](env, start), auth_token=AUTH_TOKEN)
    holder["app"] = simulator_app(sim)

    sim.run(load_scenario(SCENARIO))

    queued = [json.loads(e) for e in gateway_redis.lrange("gateway:transfer-events:pending", 0, -1)]
    assert [e["kind"] for e in queued][:1] == ["requested"]
    assert all(e["data"]["drill"] is True for e in queued)


def test_a_gateway_that_is_not_a_drill_marks_nothing(harness: Harness) -> None:
    harness.sim.run(load_scenario(SCENARIO))
    assert harness.sink.events
    assert not any("drill" in e.data for e in harness.sink.events)


def test_a_drill_gateway_is_set_with_gateway_drill() -> None:
    assert Settings.from_env({"GATEWAY_DRILL": "true"}).drill is True
    assert Settings.from_env({}).drill is False
    with pytest.raises(SettingsError, match="GATEWAY_DRILL"):
        Settings.from_env({"GATEWAY_DRILL": "sometimes"})
