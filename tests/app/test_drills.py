"""Drills played on the carrier simulator are marked as drills all the way to the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from carrier_sim.scenario import load_scenario
from carrier_sim.simulator import Simulator
from gateway.settings import Settings, SettingsError
from tests.app.harness import Harness

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "gateway-happy-path.yaml"


def test_every_event_of_a_simulated_call_is_marked_as_a_drill(
    simulated_gateway: Simulator, gateway_redis: redis.Redis
) -> None:
    pending = "gateway:transfer-events:pending"
    before = gateway_redis.llen(pending)  # other tests of the run may have left events

    simulated_gateway.run(load_scenario(SCENARIO))

    queued = [json.loads(e) for e in gateway_redis.lrange(pending, before, -1)]
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
