"""Outcomes derived from a transfer's events, whatever order they arrive in."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from gateway.adapters.store.outcomes import Outcome, Result, derive_outcome
from gateway.domain.events import Event, EventKind, Scalar
from tests.store import factories as f


def test_a_transfer_the_routed_center_accepts_is_connected_to_first_choice() -> None:
    outcome = derive_outcome(f.connected_first_choice("tr_a"))
    assert outcome.result == Result.CONNECTED_FIRST_CHOICE
    assert outcome.connected_center_id == "ksphq"
    assert outcome.first_center_id == "ksphq"
    assert outcome.rollovers == 0
    assert outcome.area_code_differs is False


def test_durations_are_measured_from_the_request() -> None:
    outcome = derive_outcome(f.connected_first_choice("tr_a"))
    assert (outcome.route_s, outcome.answer_s, outcome.accept_s) == (1.0, 10.0, 14.0)
    assert outcome.handoff_s == 30.0  # accept at +14 s to the call-taker leaving at +44 s
    assert outcome.total_s == 600.0
    assert outcome.started_at == f.T0


def test_an_accept_after_rollover_names_the_center_that_took_the_call() -> None:
    outcome = derive_outcome(f.connected_after_rollover("tr_b"))
    assert outcome.result == Result.CONNECTED_AFTER_ROLLOVER
    # The accept names no center: the last line that answered before it took the call.
    assert outcome.connected_center_id == "backup-ks"
    assert outcome.first_center_id == "ksphq"
    assert outcome.rollovers == 1
    assert outcome.dial_attempts == 2
    assert outcome.answer_s == 36.0
    assert outcome.area_code_differs is True


def test_a_transfer_nobody_takes_is_returned_to_911_with_the_reason() -> None:
    outcome = derive_outcome(f.returned_to_911("tr_c"))
    assert (outcome.result, outcome.reason) == (Result.RETURNED_TO_911, "all_centers_failed")
    assert outcome.answer_s is None
    assert outcome.connected_center_id is None


def test_a_transfer_declined_at_triage_keeps_the_reason_and_triage_fields() -> None:
    outcome = derive_outcome(f.declined_at_triage("tr_d"))
    assert (outcome.result, outcome.reason) == (Result.DECLINED_AT_TRIAGE, "risk_too_high")
    # The request's own triage fields have the last word over the decline's copy.
    assert (outcome.psap_id, outcome.risk, outcome.call_type) == ("psap-douglas", "low", "welfare")


def test_a_caller_who_hangs_up_while_ringing_is_disconnected_and_when_is_kept() -> None:
    outcome = derive_outcome(f.caller_hung_up_while_ringing("tr_e"))
    assert outcome.result == Result.CALLER_DISCONNECTED
    assert outcome.caller_hung_up_s == 7.0


def test_a_caller_hanging_up_after_a_counselor_accepted_is_still_connected() -> None:
    events = [*f.connected_first_choice("tr_f"), f.event("tr_f", EventKind.CALLER_HUNG_UP, 500)]
    outcome = derive_outcome(events)
    assert outcome.result == Result.CONNECTED_FIRST_CHOICE
    assert outcome.caller_hung_up_s == 500.0


def test_an_escalation_records_that_the_psap_answered_and_how_fast() -> None:
    outcome = derive_outcome(f.escalated("tr_g", answered=True))
    assert (outcome.escalated, outcome.escalation_answered) == (True, True)
    assert outcome.escalation_answer_s == 10.0
    assert outcome.result == Result.CONNECTED_FIRST_CHOICE


def test_an_escalation_no_psap_line_answered_is_recorded_as_unanswered() -> None:
    outcome = derive_outcome(f.escalated("tr_h", answered=False))
    assert (outcome.escalated, outcome.escalation_answered) == (True, False)
    assert outcome.escalation_answer_s is None


def test_a_transfer_without_escalation_says_so() -> None:
    outcome = derive_outcome(f.returned_to_911("tr_i"))
    assert (outcome.escalated, outcome.escalation_answered) == (False, None)


def test_a_repeated_callback_counts_once() -> None:
    events = f.connected_first_choice("tr_j")
    outcome = derive_outcome([*events, *events, events[3]])
    assert outcome.event_count == len(events)
    assert outcome.dial_attempts == 1


def test_a_transfer_with_no_final_event_is_in_progress() -> None:
    events = f.connected_first_choice("tr_k")[:3]
    assert derive_outcome(events).result == Result.IN_PROGRESS
    assert derive_outcome([]) == Outcome(result=Result.IN_PROGRESS)


def test_returned_to_911_after_the_caller_hung_up_is_a_disconnection() -> None:
    events = [
        *f.caller_hung_up_while_ringing("tr_l"),
        f.event("tr_l", EventKind.RETURNED_TO_911, 9, reason="all_centers_failed"),
    ]
    assert derive_outcome(events).result == Result.CALLER_DISCONNECTED


def test_events_at_the_same_second_are_taken_in_the_order_of_the_steps() -> None:
    # Twilio's times have one-second resolution: accept and hang-up may share a second.
    events = [
        f.requested("tr_m", 0),
        f.routed("tr_m", 0),
        *f.dial("tr_m", 0, "ksphq", "answered"),
        f.event("tr_m", EventKind.CALLER_HUNG_UP, 8),
        f.event("tr_m", EventKind.WHISPER_ACCEPTED, 8),
    ]
    assert derive_outcome(events).result == Result.CONNECTED_FIRST_CHOICE


# -- any arrival order ----------------------------------------------------------------------


@st.composite
def transfers(draw: st.DrawFn) -> list[Event]:
    """A plausible transfer: some rollovers, an ending, maybe an escalation, ties in time."""
    tid = "tr_prop"
    clock = [0.0]
    serial = itertools.count()

    def key(kind: EventKind) -> str:  # unique, as Twilio's CallSid + status would be
        return f"{tid}:{kind.value}:{next(serial)}"

    def ev(kind: EventKind, at: float, **data: Scalar) -> Event:
        return f.event(tid, kind, at, key=key(kind), **data)

    def later() -> float:
        clock[0] += draw(st.sampled_from([0.0, 0.0, 1.0, 3.5, 12.0]))  # zeros make ties
        return clock[0]

    if draw(st.booleans()) and draw(st.booleans()):
        return [f.requested(tid, later()), *f.declined_at_triage(tid, later())[1:]]
    events = [f.requested(tid, later()), f.routed(tid, later())]
    centers = ["ksphq", "backup-ks", "backup-mo"][: draw(st.integers(1, 3))]
    for attempt, center in enumerate(centers, start=1):
        status = draw(st.sampled_from(["answered", "no-answer", "busy"]))
        at = later()
        events += [
            ev(EventKind.DIAL_ATTEMPT, at, center_id=center, attempt=attempt),
            ev(EventKind.DIAL_RESULT, later(), center_id=center, status=status),
        ]
        if attempt < len(centers):
            nxt = centers[attempt]
            events.append(ev(EventKind.ROLLOVER, later(), from_center_id=center, to_center_id=nxt))
    ending = draw(st.sampled_from(["accepted", "returned", "hung_up", "state_lost", "none"]))
    if ending == "accepted":
        events.append(ev(EventKind.WHISPER_ACCEPTED, later()))
        events.append(ev(EventKind.HANDOFF, later()))
        if draw(st.booleans()):
            events.append(ev(EventKind.ESCALATION_REQUESTED, later()))
            events.append(ev(EventKind.ESCALATION_ANSWERED, later()))
    elif ending == "returned":
        events.append(ev(EventKind.RETURNED_TO_911, later(), reason="no_answer"))
    elif ending == "hung_up":
        events.append(ev(EventKind.CALLER_HUNG_UP, later()))
    elif ending == "state_lost":
        events.append(ev(EventKind.STATE_LOST, later(), step="whisper", detail="attempt-0"))
    if draw(st.booleans()):
        events.append(ev(EventKind.ENDED, later()))
    return events


@given(st.data())
def test_any_arrival_order_of_a_transfers_events_gives_the_same_outcome(
    data: st.DataObject,
) -> None:
    events = data.draw(transfers())
    shuffled = data.draw(st.permutations(events))
    replayed = shuffled + data.draw(st.lists(st.sampled_from(events), max_size=3))
    assert derive_outcome(replayed) == derive_outcome(events)


@given(transfers())
def test_durations_are_never_negative(events: list[Event]) -> None:
    outcome = derive_outcome(events)
    for value in (outcome.route_s, outcome.answer_s, outcome.accept_s, outcome.handoff_s):
        assert value is None or value >= 0


@pytest.mark.parametrize("result", list(Result))
def test_the_generated_transfers_reach_every_kind_of_ending(result: Result) -> None:
    # Guards the property tests above against a strategy that only builds some shapes.
    found = find(transfers(), lambda events: derive_outcome(events).result == result)
    assert derive_outcome(found).result == result


def test_a_transfer_whose_live_state_was_lost_is_unknown_with_where_until_it_ends() -> None:
    start = [f.requested("tr_lost"), f.routed("tr_lost", center="a")]
    lost = f.event("tr_lost", EventKind.STATE_LOST, 9, step="accept", detail="attempt-0")
    assert derive_outcome([*start, lost]).result == Result.UNKNOWN
    assert derive_outcome([*start, lost]).reason == "live-state-lost:accept:attempt-0"
    hung_up = f.event("tr_lost", EventKind.CALLER_HUNG_UP, 30)
    assert derive_outcome([*start, lost, hung_up]).result == Result.CALLER_DISCONNECTED


def test_a_rollover_delivered_last_still_lands_in_its_place() -> None:
    events = f.connected_after_rollover("tr_late")
    late = events.pop(4)  # the rollover, delivered last
    assert late.kind == EventKind.ROLLOVER
    assert derive_outcome([*events, late]) == derive_outcome(f.connected_after_rollover("tr_late"))


def test_two_different_events_under_one_key_give_one_outcome_whatever_their_order() -> None:
    answered = f.event("tr_k2", EventKind.DIAL_RESULT, 8, key="k", center_id="a", status="answered")
    busy = f.event("tr_k2", EventKind.DIAL_RESULT, 8, key="k", center_id="a", status="busy")
    start = [f.requested("tr_k2"), f.routed("tr_k2", center="a")]
    assert derive_outcome([*start, answered, busy]) == derive_outcome([*start, busy, answered])
