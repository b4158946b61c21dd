"""The gateway's scenario files (scenarios/gateway-*.yaml) play as their comments say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from carrier_sim.scenario import load_scenario
from carrier_sim.simulator import Simulator
from gateway.domain.events import EventKind
from tests.app.harness import Harness, assert_caller_never_dropped, said

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
    simulated_gateway: Simulator,
) -> None:
    sim = simulated_gateway
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


def play(harness: Harness, name: str) -> Any:
    return harness.sim.run(load_scenario(SCENARIOS / name))


def test_the_happy_path_scenario_connects_the_kansas_counselor(harness: Harness) -> None:
    timeline = play(harness, "gateway-happy-path.yaml")

    assert_caller_never_dropped(timeline)
    assert timeline.connected("caller", "kc-kansas")
    assert EventKind.WHISPER_ACCEPTED in harness.kinds()


def test_the_decline_scenario_offers_the_caller_to_the_backup(harness: Harness) -> None:
    timeline = play(harness, "gateway-counselor-declines.yaml")

    assert_caller_never_dropped(timeline)
    assert not timeline.connected("caller", "kc-kansas")
    assert timeline.connected("caller", "ks-statewide")
    assert EventKind.WHISPER_DECLINED in harness.kinds()


def test_the_voicemail_scenario_treats_the_machine_as_no_answer(harness: Harness) -> None:
    timeline = play(harness, "gateway-voicemail-answers.yaml")

    assert_caller_never_dropped(timeline)
    assert not timeline.connected("caller", "kc-kansas")
    assert timeline.connected("caller", "ks-statewide")


def test_the_hang_up_scenario_cancels_the_ringing_center(harness: Harness) -> None:
    timeline = play(harness, "gateway-caller-hangs-up-while-ringing.yaml")

    assert_caller_never_dropped(timeline)
    (leg,) = timeline.party_legs("kc-kansas")
    assert leg.status in {"canceled", "completed"}
    assert leg.ended_by == "application"
    assert EventKind.CALLER_HUNG_UP in harness.kinds()


def test_the_duplicate_callbacks_scenario_connects_once_and_records_each_event_once(
    harness: Harness,
) -> None:
    timeline = play(harness, "gateway-duplicate-reordered-callbacks.yaml")

    assert_caller_never_dropped(timeline)
    assert len([i for i in timeline.connections("caller") if "ks-statewide" in (i.a, i.b)]) == 1
    keys = [e.key for e in harness.sink.events]
    assert len(keys) == len(set(keys))
    assert harness.kinds().count(EventKind.WHISPER_ACCEPTED) == 1


def test_the_forged_webhook_scenario_is_refused_and_changes_nothing(harness: Harness) -> None:
    timeline = play(harness, "gateway-forged-webhook.yaml")

    forged = timeline.of_kind("forgery")
    assert [e.data["status"] for e in forged] == [403, 403]
    assert_caller_never_dropped(timeline)
    (talk,) = timeline.connections("caller")
    assert talk.b == "kc-kansas" and talk.end is not None and talk.end > 120  # not at 40 s
