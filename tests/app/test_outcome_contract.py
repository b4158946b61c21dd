"""The events the call flow emits are the ones the outcome store understands.

The call flow and the store were built side by side; this plays real calls through the
gateway and derives their outcomes with the store's own code, so a renamed event field
(the store reads DIAL_RESULT `status`, ROLLOVER `to_center_id`) fails here, not in a report.
"""

from __future__ import annotations

from gateway.adapters.store.outcomes import Result, derive_outcome
from gateway.domain.events import Event
from tests.app.harness import ACCEPTS, KC_KANSAS, KS_STATEWIDE, Harness, line


def outcome_of(events: list[Event], transfer_id: str):  # type: ignore[no-untyped-def]
    return derive_outcome(e for e in events if e.transfer_id == transfer_id)


def test_a_first_choice_answer_is_connected_to_the_first_choice_in_the_store(
    harness: Harness,
) -> None:
    registered = harness.register()
    harness.play([line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)])

    outcome = outcome_of(harness.sink.events, registered["transfer_id"])
    assert outcome.result == Result.CONNECTED_FIRST_CHOICE
    assert outcome.first_center_id == outcome.connected_center_id == "kc-kansas"
    assert outcome.area_code_differs is True  # the caller's 816 number points to Missouri
    assert outcome.answer_s is not None and outcome.accept_s is not None
    assert outcome.dial_attempts == 1


def test_a_rollover_is_connected_after_rollover_to_the_backup_in_the_store(
    harness: Harness,
) -> None:
    registered = harness.register()
    harness.play(
        [
            line(KC_KANSAS, "kc-kansas", outcome="no-answer"),
            line(KS_STATEWIDE, "ks-statewide", answer=4, actions=ACCEPTS),
        ]
    )

    outcome = outcome_of(harness.sink.events, registered["transfer_id"])
    assert outcome.result == Result.CONNECTED_AFTER_ROLLOVER
    assert outcome.connected_center_id == "ks-statewide"
    assert outcome.rollovers == 1
    assert outcome.answer_s is not None and outcome.answer_s > 24  # after kc-kansas's timeout


def test_nobody_answering_is_returned_to_911_in_the_store(harness: Harness) -> None:
    registered = harness.register()
    harness.play(
        [
            line(KC_KANSAS, "kc-kansas", outcome="busy"),
            line(KS_STATEWIDE, "ks-statewide", outcome="no-answer"),
            line("+18005550199", "national", outcome="failed"),
        ]
    )

    outcome = outcome_of(harness.sink.events, registered["transfer_id"])
    assert outcome.result == Result.RETURNED_TO_911
    assert outcome.answer_s is None
