"""Transfer events: every step of every transfer, as the outcome log records it.

The call flow (webhooks, API) emits events through an `EventSink`; the production sink
enqueues them to RQ and the worker writes each one exactly once to the durable store
(`key` is the idempotency key: a repeated Twilio callback or a retried job produces the
same key and is written once). Tests use `MemorySink`.

Privacy: an event never carries a clear phone number, precise coordinates or the
free-text summary. `data` holds ids (transfer, PSAP, center), the county FIPS, triage
fields, reasons, statuses and timings only. `validate_data` enforces it on construction, so
a mistake fails in tests instead of leaking into Redis or job arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

Scalar = str | int | float | bool | None


class EventKind(StrEnum):
    """What happened. The names are stored: never rename one, only add."""

    REQUESTED = "requested"  # the PSAP asked for a transfer (triage fields)
    DECLINED_AT_TRIAGE = "declined_at_triage"  # not eligible (reason)
    ROUTED = "routed"  # routing decision: method, county, center, ambiguity, area-code center
    DIAL_ATTEMPT = "dial_attempt"  # a center's line is being rung (center, attempt number)
    DIAL_RESULT = "dial_result"  # answered, busy, no-answer, failed, machine, canceled
    WHISPER_ACCEPTED = "whisper_accepted"
    WHISPER_DECLINED = "whisper_declined"  # with the reason (key pressed, timeout)
    HANDOFF = "handoff"  # the call-taker left; caller with the counselor
    ROLLOVER = "rollover"  # from one center to the next (reason)
    RETURNED_TO_911 = "returned_to_911"  # nobody could take the caller (reason)
    ESCALATION_REQUESTED = "escalation_requested"  # counselor asked for 911 (key or API)
    ESCALATION_DIALED = "escalation_dialed"  # a PSAP escalation line is being rung
    ESCALATION_ANSWERED = "escalation_answered"
    ESCALATION_FAILED = "escalation_failed"  # every escalation number failed
    CALLER_HUNG_UP = "caller_hung_up"
    ENDED = "ended"
    # The live state of a transfer was gone while its call went on (Redis restarted empty):
    # what happened next is not known for certain (step, detail)
    STATE_LOST = "state_lost"


# Values that look like a phone number (E.164, ten digits, or 816-555-0123 written out) or
# a coordinate with four or more decimals (about 10 m) are refused in event data: they are
# exactly what must not spread. Twilio SIDs ("CA" + 32 hex) contain digit runs, so a match
# must not touch letters or digits on either side.
_PHONE = re.compile(
    r"(?<![0-9A-Za-z])(?:\+?\d{10,15}|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4})(?![0-9A-Za-z])"
)
_PRECISE_COORDINATE = re.compile(r"(?<![0-9A-Za-z.])-?\d{1,3}\.\d{4,}(?![0-9A-Za-z])")


_COORDINATE_NAMES = frozenset({"lat", "lon", "latitude", "longitude", "lng"})


class EventDataError(ValueError):
    """Event data that would leak personal information, or is not plain JSON."""


def validate_data(data: Mapping[str, Any]) -> dict[str, Scalar]:
    """Check that event data holds only plain scalars and nothing that identifies a caller."""
    clean: dict[str, Scalar] = {}
    for name, value in data.items():
        if not isinstance(name, str):
            raise EventDataError(f"event data key {name!r} is not a string")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise EventDataError(f"event data {name}: {type(value).__name__} is not a scalar")
        if name in _COORDINATE_NAMES:
            raise EventDataError(f"event data {name}: coordinates are kept as the county only")
        if isinstance(value, str):
            if _PHONE.search(value):
                raise EventDataError(f"event data {name}: looks like a phone number")
            if _PRECISE_COORDINATE.search(value):
                raise EventDataError(f"event data {name}: looks like a precise coordinate")
        clean[name] = value
    return clean


@dataclass(frozen=True)
class Event:
    """One step of one transfer.

    Attributes:
        transfer_id: the gateway's transfer id (random, not derived from the caller).
        kind: what happened.
        key: idempotency key, unique per real-world happening; e.g. the Twilio CallSid and
            CallStatus of a status callback, so a repeated callback gives the same key.
        at: when it happened (UTC), as Twilio or the gateway observed it.
        data: plain, non-identifying details (see the module docstring).
    """

    transfer_id: str
    kind: EventKind
    key: str
    at: datetime
    data: Mapping[str, Scalar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise EventDataError("event time must be timezone-aware")
        object.__setattr__(self, "kind", EventKind(self.kind))
        object.__setattr__(self, "data", validate_data(self.data))

    def to_json(self) -> str:
        """The form that travels through RQ (the JSON serializer) and into the store."""
        return json.dumps(
            {
                "transfer_id": self.transfer_id,
                "kind": self.kind.value,
                "key": self.key,
                "at": self.at.astimezone(UTC).isoformat(),
                "data": dict(self.data),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Event:
        """Parse `to_json` output. Raises EventDataError (not retried) on a malformed payload."""
        try:
            raw = json.loads(text)
            return cls(
                transfer_id=str(raw["transfer_id"]),
                kind=EventKind(raw["kind"]),
                key=str(raw["key"]),
                at=datetime.fromisoformat(raw["at"]),
                data=raw.get("data") or {},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EventDataError(f"malformed event payload: {exc}") from None


class EventSink(Protocol):
    """Where the call flow sends events. Emitting must never block or fail a webhook."""

    def emit(self, *events: Event) -> None:
        """Hand over events, in order; one change's events come in one call."""
        ...


class MemorySink:
    """Keeps events in a list: for tests and for `make run`'s in-process demo."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, *events: Event) -> None:
        self.events.extend(events)

    def kinds(self, transfer_id: str | None = None) -> list[EventKind]:
        return [e.kind for e in self.events if transfer_id in (None, e.transfer_id)]
