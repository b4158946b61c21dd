"""Events of whole transfers, as the call flow emits them (fictional ids and centers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gateway.adapters.drills import DrillMarker
from gateway.domain.events import Event, EventKind, MemorySink, Scalar

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday


def event(
    transfer_id: str, kind: EventKind, seconds: float, key: str = "", **data: Scalar
) -> Event:
    """One event `seconds` after T0; the key defaults to transfer, kind and time."""
    return Event(
        transfer_id=transfer_id,
        kind=kind,
        key=key or f"{transfer_id}:{kind.value}:{seconds}",
        at=T0 + timedelta(seconds=seconds),
        data=data,
    )


def requested(tid: str, at: float = 0, psap: str = "psap-douglas") -> Event:
    return event(tid, EventKind.REQUESTED, at, psap_id=psap, risk="low", call_type="welfare")


def routed(
    tid: str, at: float = 1, center: str = "ksphq", area_code_center: str = "ksphq"
) -> Event:
    return event(
        tid,
        EventKind.ROUTED,
        at,
        center_id=center,
        area_code_center_id=area_code_center,
        area_code_differs=center != area_code_center,
        ambiguous=False,
        method="point",
        county_fips="20045",
        psap_id="psap-douglas",
    )


def dial(tid: str, at: float, center: str, status: str, attempt: int = 1) -> list[Event]:
    """A dial attempt and, `at` + 8 s later, its result."""
    return [
        event(tid, EventKind.DIAL_ATTEMPT, at, center_id=center, attempt=attempt),
        event(tid, EventKind.DIAL_RESULT, at + 8, center_id=center, status=status),
    ]


def connected_first_choice(tid: str, psap: str = "psap-douglas", start: float = 0) -> list[Event]:
    """Routed to ksphq, answered at +10 s, accepted at +14 s, handoff at +44 s, end at +600 s."""
    s = start
    return [
        requested(tid, s, psap),
        routed(tid, s + 1),
        *dial(tid, s + 2, "ksphq", "answered"),
        event(tid, EventKind.WHISPER_ACCEPTED, s + 14, center_id="ksphq"),
        event(tid, EventKind.HANDOFF, s + 44),
        event(tid, EventKind.ENDED, s + 600),
    ]


def connected_after_rollover(tid: str, start: float = 0) -> list[Event]:
    """ksphq does not answer; rolled over to the backup, which answers at +36 s."""
    s = start
    return [
        requested(tid, s),
        routed(tid, s + 1, center="ksphq", area_code_center="mo-988"),
        *dial(tid, s + 2, "ksphq", "no-answer"),
        event(tid, EventKind.ROLLOVER, s + 26, from_center_id="ksphq", to_center_id="backup-ks"),
        *dial(tid, s + 28, "backup-ks", "answered", attempt=2),
        event(tid, EventKind.WHISPER_ACCEPTED, s + 40),
        event(tid, EventKind.HANDOFF, s + 70),
        event(tid, EventKind.ENDED, s + 900),
    ]


def returned_to_911(tid: str, start: float = 0) -> list[Event]:
    s = start
    return [
        requested(tid, s),
        routed(tid, s + 1),
        *dial(tid, s + 2, "ksphq", "busy"),
        event(tid, EventKind.RETURNED_TO_911, s + 12, reason="all_centers_failed"),
        event(tid, EventKind.ENDED, s + 13),
    ]


def declined_at_triage(tid: str, start: float = 0) -> list[Event]:
    s = start
    return [
        requested(tid, s),
        event(
            tid,
            EventKind.DECLINED_AT_TRIAGE,
            s + 1,
            psap_id="psap-douglas",
            reason="risk_too_high",
            risk="higher",
            call_type="welfare",
        ),
    ]


def caller_hung_up_while_ringing(tid: str, start: float = 0) -> list[Event]:
    s = start
    return [
        requested(tid, s),
        routed(tid, s + 1),
        event(tid, EventKind.DIAL_ATTEMPT, s + 2, center_id="ksphq", attempt=1),
        event(tid, EventKind.CALLER_HUNG_UP, s + 7),
        event(tid, EventKind.ENDED, s + 7),
    ]


def escalated(tid: str, answered: bool, start: float = 0) -> list[Event]:
    """Connected at first choice, then the counselor brings 911 back at +120 s."""
    s = start
    final = EventKind.ESCALATION_ANSWERED if answered else EventKind.ESCALATION_FAILED
    status = "answered" if answered else "no-answer"
    ends = [e for e in connected_first_choice(tid, start=s) if e.kind != EventKind.ENDED]
    return [
        *ends,
        event(tid, EventKind.ESCALATION_REQUESTED, s + 120, psap_id="psap-douglas"),
        event(tid, EventKind.ESCALATION_DIALED, s + 121, psap_id="psap-douglas", number_index=0),
        event(tid, final, s + 130, psap_id="psap-douglas", number_index=0, status=status),
        event(tid, EventKind.ENDED, s + 700),
    ]


def whisper_declined(tid: str, start: float = 0) -> list[Event]:
    """ksphq's counselor presses 2; the backup accepts."""
    s = start
    return [
        requested(tid, s),
        routed(tid, s + 1),
        *dial(tid, s + 2, "ksphq", "answered"),
        event(tid, EventKind.WHISPER_DECLINED, s + 14, center_id="ksphq", reason="key-2"),
        event(
            tid,
            EventKind.DIAL_RESULT,
            s + 14,
            key=f"{tid}:declined-result",
            center_id="ksphq",
            status="declined",
        ),
        event(tid, EventKind.ROLLOVER, s + 15, from_center_id="ksphq", to_center_id="backup-ks"),
        *dial(tid, s + 16, "backup-ks", "answered", attempt=2),
        event(tid, EventKind.WHISPER_ACCEPTED, s + 30, center_id="backup-ks"),
        event(tid, EventKind.ENDED, s + 300),
    ]


def as_drill(events: list[Event]) -> list[Event]:
    """The same transfer played as a drill: each event marked as the simulator marks it."""
    sink = MemorySink()
    DrillMarker(sink).emit(*events)
    return sink.events


def in_county(events: list[Event], fips: str) -> list[Event]:
    """The same transfer, routed on another county (the factories route on 20045)."""
    return [
        replace(e, data={**e.data, "county_fips": fips}) if e.kind == EventKind.ROUTED else e
        for e in events
    ]
