"""A transfer's outcome and durations, derived from its events.

A pure function over the events of one transfer. Twilio delivers callbacks at least once
and in no guaranteed order, and the worker may write them in any order, so the events are
first put in one canonical order (time, then the natural order of the steps, then the
idempotency key): any arrival order gives the same outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypedDict

from gateway.domain.events import Event, EventKind, Scalar


class Result(StrEnum):
    """How a transfer ended. Stored: never rename one, only add."""

    IN_PROGRESS = "in_progress"  # no final event yet
    DECLINED_AT_TRIAGE = "declined_at_triage"  # not eligible: the caller stayed with 911
    CONNECTED_FIRST_CHOICE = "connected_first_choice"  # the routed center accepted
    CONNECTED_AFTER_ROLLOVER = "connected_after_rollover"  # another center accepted
    RETURNED_TO_911 = "returned_to_911"  # nobody could take the caller
    CALLER_DISCONNECTED = "caller_disconnected"  # hung up before a counselor accepted
    ENDED_UNCONNECTED = "ended_unconnected"  # ended without any of the above (e.g. cancelled)
    UNKNOWN = "unknown"  # the live state was lost mid-call: not known (reason says where)


CONNECTED = frozenset({Result.CONNECTED_FIRST_CHOICE, Result.CONNECTED_AFTER_ROLLOVER})

# The natural order of the steps, used when two events carry the same time (Twilio times
# have one-second resolution, so ties are common).
_STEP = {
    EventKind.REQUESTED: 0,
    EventKind.DECLINED_AT_TRIAGE: 1,
    EventKind.ROUTED: 2,
    EventKind.DIAL_ATTEMPT: 3,
    EventKind.DIAL_RESULT: 4,
    EventKind.WHISPER_DECLINED: 5,
    EventKind.WHISPER_ACCEPTED: 5,
    EventKind.ROLLOVER: 6,
    EventKind.HANDOFF: 7,
    EventKind.RETURNED_TO_911: 8,
    EventKind.ESCALATION_REQUESTED: 9,
    EventKind.ESCALATION_DIALED: 10,
    EventKind.ESCALATION_ANSWERED: 11,
    EventKind.ESCALATION_FAILED: 11,
    EventKind.CALLER_HUNG_UP: 12,
    EventKind.ENDED: 13,
    EventKind.STATE_LOST: 14,
}

ANSWERED = "answered"  # DIAL_RESULT status when a counselor's line picked up


@dataclass(frozen=True)
class Outcome:
    """Everything derived from one transfer's events.

    Durations are seconds from the start (the REQUESTED event, else the earliest event),
    except `handoff_s` (from accept to the call-taker leaving) and `escalation_answer_s`
    (from the escalation request to the PSAP answering). None: the step did not happen.
    """

    result: Result
    reason: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    psap_id: str | None = None
    risk: str | None = None
    call_type: str | None = None
    language: str | None = None
    veteran: bool | None = None
    drill: bool = False
    first_center_id: str | None = None
    connected_center_id: str | None = None
    area_code_center_id: str | None = None
    area_code_differs: bool | None = None
    ambiguous: bool | None = None
    method: str | None = None
    county_fips: str | None = None
    rollovers: int = 0
    dial_attempts: int = 0
    escalated: bool = False
    escalation_answered: bool | None = None
    caller_hung_up_s: float | None = None
    route_s: float | None = None
    answer_s: float | None = None
    accept_s: float | None = None
    handoff_s: float | None = None
    total_s: float | None = None
    escalation_answer_s: float | None = None
    event_count: int = 0


class _Triage(TypedDict):
    psap_id: str | None
    risk: str | None
    call_type: str | None
    language: str | None
    veteran: bool | None


class _Routing(TypedDict, total=False):
    first_center_id: str | None
    area_code_center_id: str | None
    area_code_differs: bool | None
    ambiguous: bool | None
    method: str | None
    county_fips: str | None


class _Escalation(TypedDict, total=False):
    escalated: bool
    escalation_answered: bool | None
    escalation_answer_s: float | None


class _Durations(TypedDict):
    route_s: float | None
    answer_s: float | None
    accept_s: float | None
    handoff_s: float | None
    total_s: float | None
    caller_hung_up_s: float | None


def canonical_order(events: Iterable[Event]) -> list[Event]:
    """Sort events by time, then step, then key: one order whatever the arrival order."""
    return sorted(events, key=_order)


def _order(event: Event) -> tuple[datetime, int, str, str]:
    # The data breaks the last tie, so even two different events under one key (a bug in
    # the caller) come out in the same order whatever order they arrived in.
    return (event.at, _STEP[event.kind], event.key, json.dumps(dict(event.data), sort_keys=True))


def _unique(ordered: list[Event]) -> list[Event]:
    """Keep the first event of each key (a repeated callback is one event)."""
    seen: set[str] = set()
    kept = []
    for event in ordered:
        if event.key not in seen:
            seen.add(event.key)
            kept.append(event)
    return kept


def derive_outcome(events: Iterable[Event]) -> Outcome:
    """Derive a transfer's outcome from its events (any order, duplicates by key ignored).

    Args:
        events: the events of one transfer.

    Returns:
        The outcome; `Result.IN_PROGRESS` with no fields when there are no events.
    """
    ordered = _unique(canonical_order(events))
    if not ordered:
        return Outcome(result=Result.IN_PROGRESS)
    steps = _Steps(ordered)
    start = steps.start()
    result, reason, connected = _result(steps)
    return Outcome(
        result=result,
        reason=reason,
        started_at=start,
        ended_at=steps.at(EventKind.ENDED),
        connected_center_id=connected,
        rollovers=steps.count(EventKind.ROLLOVER),
        dial_attempts=steps.count(EventKind.DIAL_ATTEMPT),
        event_count=len(ordered),
        # One marked event is enough: a drill's events all come from the same marked app.
        drill=any(e.data.get("drill") is True for e in ordered),
        **_triage(steps),
        **_routing(steps),
        **_escalation(steps),
        **_durations(steps, start),
    )


class _Steps:
    """Look-ups over one transfer's events, in canonical order."""

    def __init__(self, ordered: Sequence[Event]) -> None:
        self.ordered = ordered

    def all(self, kind: EventKind) -> list[Event]:
        return [e for e in self.ordered if e.kind == kind]

    def first(self, kind: EventKind) -> Event | None:
        return next((e for e in self.ordered if e.kind == kind), None)

    def at(self, kind: EventKind) -> datetime | None:
        event = self.first(kind)
        return event.at if event else None

    def count(self, kind: EventKind) -> int:
        return len(self.all(kind))

    def start(self) -> datetime:
        return self.at(EventKind.REQUESTED) or self.ordered[0].at

    def answers(self) -> list[Event]:
        return [e for e in self.all(EventKind.DIAL_RESULT) if e.data.get("status") == ANSWERED]


def _text(value: Scalar) -> str | None:
    return None if value is None else str(value)


def _flag(value: Scalar) -> bool | None:
    return value if isinstance(value, bool) else None


def _result(steps: _Steps) -> tuple[Result, str | None, str | None]:
    """The result, its reason, and the center the caller was connected to."""
    declined = steps.first(EventKind.DECLINED_AT_TRIAGE)
    if declined:
        return Result.DECLINED_AT_TRIAGE, _text(declined.data.get("reason")), None
    accepted = steps.first(EventKind.WHISPER_ACCEPTED)
    if accepted:
        center = _connected_center(steps, accepted)
        routed = steps.first(EventKind.ROUTED)
        first_choice = _text(routed.data.get("center_id")) if routed else center
        if center == first_choice:
            return Result.CONNECTED_FIRST_CHOICE, None, center
        return Result.CONNECTED_AFTER_ROLLOVER, None, center
    # Without an accept, the earlier of "returned to 911" and "caller hung up" decides:
    # whatever came second happened to a call that was already over for the caller.
    for event in steps.ordered:
        if event.kind == EventKind.RETURNED_TO_911:
            return Result.RETURNED_TO_911, _text(event.data.get("reason")), None
        if event.kind == EventKind.CALLER_HUNG_UP:
            return Result.CALLER_DISCONNECTED, None, None
    if steps.first(EventKind.ENDED):
        return Result.ENDED_UNCONNECTED, None, None
    lost = steps.first(EventKind.STATE_LOST)
    if lost:
        # Rather no result than a false one: the call went on without its live state.
        step, detail = _text(lost.data.get("step")), _text(lost.data.get("detail"))
        return Result.UNKNOWN, f"live-state-lost:{step}:{detail}", None
    return Result.IN_PROGRESS, None, None


def _connected_center(steps: _Steps, accepted: Event) -> str | None:
    """The accepting center: named on the accept, else the last answer before it."""
    named = _text(accepted.data.get("center_id"))
    if named:
        return named
    before = [e for e in steps.answers() if _key(e) <= _key(accepted)]
    if before:
        return _text(before[-1].data.get("center_id"))
    rollovers = [e for e in steps.all(EventKind.ROLLOVER) if _key(e) <= _key(accepted)]
    if rollovers:
        return _text(rollovers[-1].data.get("to_center_id"))
    routed = steps.first(EventKind.ROUTED)
    return _text(routed.data.get("center_id")) if routed else None


def _key(event: Event) -> tuple[datetime, int, str, str]:
    return _order(event)


def _triage(steps: _Steps) -> _Triage:
    requested = steps.first(EventKind.REQUESTED)
    declined = steps.first(EventKind.DECLINED_AT_TRIAGE)
    routed = steps.first(EventKind.ROUTED)
    data: dict[str, Scalar] = {}
    # Later steps fill in what an earlier one left out; the request has the last word.
    for event in (routed, declined, requested):
        if event:
            data.update({k: v for k, v in event.data.items() if v is not None})
    return {
        "psap_id": _text(data.get("psap_id")),
        "risk": _text(data.get("risk")),
        "call_type": _text(data.get("call_type")),
        "language": _text(data.get("language")),
        "veteran": _flag(data.get("veteran")),
    }


def _routing(steps: _Steps) -> _Routing:
    routed = steps.first(EventKind.ROUTED)
    if routed is None:
        return {}
    data = routed.data
    return {
        "first_center_id": _text(data.get("center_id")),
        "area_code_center_id": _text(data.get("area_code_center_id")),
        "area_code_differs": _flag(data.get("area_code_differs")),
        "ambiguous": _flag(data.get("ambiguous")),
        "method": _text(data.get("method")),
        "county_fips": _text(data.get("county_fips")),
    }


def _escalation(steps: _Steps) -> _Escalation:
    kinds = (
        EventKind.ESCALATION_REQUESTED,
        EventKind.ESCALATION_DIALED,
        EventKind.ESCALATION_ANSWERED,
        EventKind.ESCALATION_FAILED,
    )
    if not any(steps.first(kind) for kind in kinds):
        return {"escalated": False, "escalation_answered": None}
    requested = steps.at(EventKind.ESCALATION_REQUESTED)
    answered = steps.at(EventKind.ESCALATION_ANSWERED)
    return {
        "escalated": True,
        "escalation_answered": answered is not None,
        "escalation_answer_s": _seconds(requested, answered),
    }


def _durations(steps: _Steps, start: datetime) -> _Durations:
    answers = steps.answers()
    accepted = steps.at(EventKind.WHISPER_ACCEPTED)
    return {
        "route_s": _seconds(start, steps.at(EventKind.ROUTED)),
        "answer_s": _seconds(start, answers[0].at if answers else None),
        "accept_s": _seconds(start, accepted),
        "handoff_s": _seconds(accepted, steps.at(EventKind.HANDOFF)),
        "total_s": _seconds(start, steps.at(EventKind.ENDED)),
        "caller_hung_up_s": _seconds(start, steps.at(EventKind.CALLER_HUNG_UP)),
    }


def _seconds(since: datetime | None, until: datetime | None) -> float | None:
    if since is None or until is None:
        return None
    return round((until - since).total_seconds(), 3)
