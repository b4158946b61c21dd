"""A transfer as the live call knows it, and the three state machines it moves through.

The transfer itself (`TransferStatus`), each line rung for it (`AttemptStatus`: a center's
line, or a PSAP's escalation line) and the bounce-back to 911 (`EscalationStatus`) change
status only through `move`, which checks `TRANSITIONS`, the one table of every allowed
change. What a step decided travels as a typed result (`Claim`, `Answer`, `Join`, `Check`,
`Start`), never as a string to compare.

Nothing here talks to Redis, Twilio or Flask: a change is computed on these records inside
the live state's compare-and-set (adapters/live_state.py), and the calls out happen after.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from gateway.domain.events import EventKind, Scalar
from routing.engine import Decision

MAX_HISTORY = 100
# A counselor counts as in the * menu this long at most (it answers within seconds): past
# it, their return's join event was lost, and a notice is announced in the room.
MENU_AWAY_S = 30.0


class TransferStatus(StrEnum):
    """PENDING: registered, its call has not arrived. DIALING: the caller waits while
    centers are rung. CONNECTED: a counselor accepted. RETURNED: no center could take the
    caller, who stays with 911. ABANDONED: the caller left while centers were rung. ENDED:
    the caller left after the hand-off (or after being returned)."""

    PENDING = "pending"
    DIALING = "dialing"
    CONNECTED = "connected"
    RETURNED = "returned"
    ABANDONED = "abandoned"
    ENDED = "ended"


class AttemptStatus(StrEnum):
    """One line rung: DIALING -> ANSWERED (a person hears the whisper) -> ACCEPTED (a
    counselor pressed 1) or JOINED (a 911 call-taker pressed 1); or FAILED, with a result
    (no-answer, busy, failed, declined, machine, no-key, canceled, closed, caller-left,
    deadline, refused, lost)."""

    DIALING = "dialing"
    ANSWERED = "answered"
    ACCEPTED = "accepted"
    JOINED = "joined"
    FAILED = "failed"


class EscalationStatus(StrEnum):
    """The bounce-back: DIALING while the PSAP's lines are rung, then JOINED (a 911
    call-taker is in the room), FAILED (no line answered) or CANCELED (the caller left)."""

    DIALING = "dialing"
    JOINED = "joined"
    FAILED = "failed"
    CANCELED = "canceled"


Status = TransferStatus | AttemptStatus | EscalationStatus

# Every allowed change of status, and nothing else, per state machine. A status that is
# not a key is final. (The three enums share values such as "dialing", which compare
# equal: hence one table per machine, looked up by the enum's type.)
TRANSITIONS: dict[type[Status], dict[Any, frozenset[Any]]] = {
    TransferStatus: {
        TransferStatus.PENDING: frozenset({TransferStatus.DIALING}),
        TransferStatus.DIALING: frozenset(
            {TransferStatus.CONNECTED, TransferStatus.RETURNED, TransferStatus.ABANDONED}
        ),
        TransferStatus.CONNECTED: frozenset({TransferStatus.ENDED}),
        TransferStatus.RETURNED: frozenset({TransferStatus.ENDED}),
    },
    # A leg may be accepted or joined without its whisper's answer on record (the live
    # state was out of reach when it answered).
    AttemptStatus: {
        AttemptStatus.DIALING: frozenset(
            {
                AttemptStatus.ANSWERED,
                AttemptStatus.ACCEPTED,
                AttemptStatus.JOINED,
                AttemptStatus.FAILED,
            }
        ),
        AttemptStatus.ANSWERED: frozenset(
            {AttemptStatus.ACCEPTED, AttemptStatus.JOINED, AttemptStatus.FAILED}
        ),
    },
    EscalationStatus: {
        EscalationStatus.DIALING: frozenset(
            {EscalationStatus.JOINED, EscalationStatus.FAILED, EscalationStatus.CANCELED}
        ),
    },
}
OPEN = frozenset({AttemptStatus.DIALING, AttemptStatus.ANSWERED})
ACTIVE = frozenset({TransferStatus.DIALING, TransferStatus.CONNECTED})
GONE = frozenset({TransferStatus.ABANDONED, TransferStatus.ENDED})


class IllegalTransition(RuntimeError):
    """A change `TRANSITIONS` does not allow: a bug in the call flow, never the caller's."""


class _HasStatus(Protocol):
    status: Any


def move(record: _HasStatus, to: Status) -> None:
    """Change `record.status` to `to`, as `TRANSITIONS` allows.

    Raises:
        IllegalTransition: the change is not in the table.
    """
    machine = type(to)
    allowed = TRANSITIONS[machine].get(record.status, frozenset())
    if type(record.status) is not machine or to not in allowed:
        raise IllegalTransition(f"{type(record).__name__}: {record.status} -> {to}")
    record.status = to


class Claim(StrEnum):
    """A call claiming a transfer: CLAIMED (first), AGAIN (its own, repeated), TAKEN."""

    CLAIMED = "claimed"
    AGAIN = "again"
    TAKEN = "taken"


class Answer(StrEnum):
    """A rung line answered: a HUMAN (hears the whisper), a MACHINE, or STALE (the attempt
    was decided already: a duplicate or late webhook)."""

    HUMAN = "human"
    MACHINE = "machine"
    STALE = "stale"


class Notice(StrEnum):
    """What a counselor is told about the escalation, in the caller's room."""

    UNREACHED = "unreached"  # 911 could not be reached on any line
    STILL_CALLING = "still-calling"  # 911 has not answered yet; the gateway keeps calling


# The escalation status under which each notice still holds when the counselor is back.
NOTICE_HOLDS = {
    Notice.UNREACHED: EscalationStatus.FAILED,
    Notice.STILL_CALLING: EscalationStatus.DIALING,
}


class JoinKind(StrEnum):
    """What a leg joining the caller's room means: HANDED_OFF (the accepting counselor's
    first join), ALONE (a leg joined a room that is not the caller's), BACK (the counselor
    back from the * menu, with a notice kept for them) or NOTHING to do."""

    HANDED_OFF = "handed-off"
    ALONE = "alone"
    BACK = "back"
    NOTHING = "nothing"


@dataclass(frozen=True)
class Join:
    kind: JoinKind = JoinKind.NOTHING
    notice: Notice | None = None


class Check(StrEnum):
    """What the watchdog found: a leg still IN_FLIGHT, ROLLED_OVER to the next step,
    SETTLED (nothing rings), or the transfer GONE from the live state."""

    IN_FLIGHT = "in-flight"
    ROLLED_OVER = "rolled-over"
    SETTLED = "settled"
    GONE = "gone"


class Start(StrEnum):
    """The answer to a request for 911: STARTED, IN_PROGRESS (a duplicate request: nothing
    more is dialed), JOINED (911 is already in the room), FORBIDDEN (not the caller's
    counselor), NOT_CONNECTED (no counselor has the caller), NO_NUMBERS (the PSAP has none)."""

    STARTED = "started"
    IN_PROGRESS = "in-progress"
    JOINED = "joined"
    FORBIDDEN = "forbidden"
    NOT_CONNECTED = "not-connected"
    NO_NUMBERS = "no-numbers"


@dataclass
class Attempt:
    """One center rung for one transfer."""

    center_id: str
    status: AttemptStatus = AttemptStatus.DIALING
    result: str = ""
    call_sid: str = ""
    started_at: float = 0.0

    def __post_init__(self) -> None:
        self.status = AttemptStatus(self.status)


@dataclass
class EscalationAttempt:
    """One PSAP number rung for an escalation; attempt i rings number i % len(numbers)."""

    number_index: int
    status: AttemptStatus = AttemptStatus.DIALING
    result: str = ""
    call_sid: str = ""
    started_at: float = 0.0

    def __post_init__(self) -> None:
        self.status = AttemptStatus(self.status)


@dataclass
class Escalation:
    """A counselor's request to bring 911 back into the room.

    Attributes:
        seq: 1 for the transfer's first escalation, 2 for a second one after a failure.
        by: "key" (the counselor's * menu) or "api" (the center's system).
        requested_at: when it was asked for.
        attempts: numbers rung so far.
        notice: a notice for the counselor that waits until they are back in the caller's
            room (they were in the * menu when it was due); "" for none.
    """

    seq: int
    by: str
    requested_at: float
    status: EscalationStatus = EscalationStatus.DIALING
    attempts: list[EscalationAttempt] = field(default_factory=list)
    notice: str = ""

    def __post_init__(self) -> None:
        self.status = EscalationStatus(self.status)


def still_open(
    attempt: Attempt | EscalationAttempt | None, sid: str
) -> Attempt | EscalationAttempt | None:
    """The attempt if it is still undecided and `sid` (when given) is its leg.

    A status callback or webhook for a decided attempt, or from another leg, is a duplicate
    or a late delivery: the caller gets None and changes nothing. The first callback that
    names a leg binds it to the attempt.
    """
    if attempt is None or attempt.status not in OPEN:
        return None
    if sid and attempt.call_sid and attempt.call_sid != sid:
        return None
    if sid and not attempt.call_sid:
        attempt.call_sid = sid
    return attempt


def fail_open(
    attempts: Iterable[Attempt | EscalationAttempt], result: str
) -> list[tuple[str, bool]]:
    """End every open attempt with `result`; the legs to hang up, as (call sid, answered)."""
    legs: list[tuple[str, bool]] = []
    for attempt in attempts:
        if attempt.status in OPEN:
            if attempt.call_sid:
                legs.append((attempt.call_sid, attempt.status == AttemptStatus.ANSWERED))
            move(attempt, AttemptStatus.FAILED)
            attempt.result = result
    return legs


@dataclass
class Transfer:
    """Everything the live call needs about one transfer.

    Attributes:
        id: random transfer id ("tr_" + 16 hex digits).
        origin: "api" (registered by the PSAP), "zip" or "psap-area" (keyed on the call).
        code: the short numeric code a call-taker may key in ("" once used or if keyed).
        dial_plan: center ids to try in order, ending at the national backup line.
        current: index in dial_plan of the center being tried; -1 before the call arrives.
        history: the transfer's own timeline (at, kind, detail), for the status API.
        summary_sealed: the call-taker's free-text summary, which the counselor may ask to
            hear (3 in the whisper).
        callback_sealed: the caller's number as the PSAP gave it, which the counselor may
            ask to hear and the escalation whisper reads back to 911.
        location_sealed: where the caller is, as the escalation whisper says it
            (`gateway.services.intake.spoken_location`).
        place_sealed: where the caller is, as the EIDO document gives it
            (`gateway.services.intake.place_json`).

        The four `_sealed` fields are Fernet tokens under ENCRYPTION_KEY (`Calls.seal`),
        "" when not given or without a key (then not kept at all): never in clear in
        Redis, and kept out of repr so they never reach a log.
        escalation: the latest bounce-back to 911, if the counselor asked for one.
        counselor_away_since: when the accepting counselor went into the * menu, out of
            the caller's room; None while they are in it.
    """

    id: str
    origin: str
    psap_id: str | None
    status: TransferStatus
    created_at: float
    dial_plan: list[str]
    code: str = ""
    risk: str | None = None
    call_type: str | None = None
    language: str | None = None
    veteran: bool = False
    consent: bool = False
    summary_sealed: str = field(default="", repr=False)
    method: str = ""
    county_fips: str | None = None
    county_name: str | None = None
    explanation: str = ""
    current: int = -1
    attempts: list[Attempt] = field(default_factory=list)
    caller_sid: str = ""
    conference_sid: str = ""
    arrived_at: float | None = None
    deadline_at: float | None = None
    outcome: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    callback_sealed: str = field(default="", repr=False)
    location_sealed: str = field(default="", repr=False)
    place_sealed: str = field(default="", repr=False)
    escalation: Escalation | None = None
    counselor_away_since: float | None = None

    def __post_init__(self) -> None:
        self.status = TransferStatus(self.status)

    def to_json(self) -> str:
        # Shallow copies, not dataclasses.asdict: asdict deep-copies every history entry,
        # which made serializing the largest single cost of a webhook (about 0.8 ms).
        data = dict(vars(self))
        data["attempts"] = [vars(a) for a in self.attempts]
        if self.escalation is not None:
            tries = [vars(a) for a in self.escalation.attempts]
            data["escalation"] = {**vars(self.escalation), "attempts": tries}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Transfer:
        # Fields this version does not know (added by a later one) are left out (_known),
        # so a rollback to this version or a later one reads what a newer one wrote.
        raw = json.loads(text)
        raw["attempts"] = [_known(Attempt, a) for a in raw.get("attempts", [])]
        escalation = raw.get("escalation")
        if escalation is not None:
            tries = [_known(EscalationAttempt, a) for a in escalation.get("attempts", [])]
            raw["escalation"] = _known(Escalation, {**escalation, "attempts": tries})
        return _known(cls, raw)

    @property
    def room(self) -> str:
        """The Twilio conference's friendly name: the transfer id, nothing about the caller."""
        return f"transfer-{self.id}"

    def attempt(self, index: int) -> Attempt | None:
        """The attempt at dial-plan position `index`, if it was made."""
        return self.attempts[index] if 0 <= index < len(self.attempts) else None

    def accepted(self) -> Attempt | None:
        """The attempt whose counselor accepted, if any."""
        return next((a for a in self.attempts if a.status == AttemptStatus.ACCEPTED), None)

    def accepted_by(self, center_id: str) -> bool:
        """Whether a counselor of this center has the caller (who may escalate, and see it)."""
        accepted = self.accepted()
        return accepted is not None and accepted.center_id == center_id

    def note(self, at: float, kind: str, **detail: Any) -> None:
        """Add a step to the transfer's own timeline (bounded: a loop cannot grow it)."""
        if len(self.history) < MAX_HISTORY:
            self.history.append({"at": at, "kind": kind, **detail})


_Record = TypeVar("_Record")


def _known(cls: type[_Record], data: dict[str, Any]) -> _Record:
    """`cls(**data)` (a dataclass), leaving out keys `cls` does not have. Every webhook
    reads a transfer: only a value from another version pays for the filtering."""
    try:
        return cls(**data)
    except TypeError:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{name: value for name, value in data.items() if name in names})


def new_transfer(
    transfer_id: str, origin: str, psap_id: str | None, decision: Decision, now: float
) -> Transfer:
    """A pending transfer for a routing decision; its timeline starts where the
    call-taker did, not when the caller arrived."""
    transfer = Transfer(
        id=transfer_id,
        origin=origin,
        psap_id=psap_id,
        status=TransferStatus.PENDING,
        created_at=now,
        dial_plan=list(decision.dial_plan),
        method=decision.method,
        county_fips=decision.county_fips,
        county_name=decision.county_name,
        explanation=decision.explanation,
    )
    transfer.note(now, "requested", origin=origin)
    transfer.note(now, "routed", center_id=decision.center_id, method=decision.method)
    return transfer


def may_claim(transfer: Transfer, psap_id: str | None) -> bool:
    """Whether a call from `psap_id`'s line (None: a number the tables do not know, which
    must have named the transfer by its secret) may claim `transfer`."""
    return psap_id is None or psap_id == transfer.psap_id


# What `new_transfer_id` makes: the only shape a transfer id from outside is accepted in.
TRANSFER_ID = re.compile(r"^tr_[0-9a-f]{16}$")


def new_transfer_id() -> str:
    """A random transfer id; nothing in it is derived from the caller."""
    return "tr_" + secrets.token_hex(8)


@dataclass
class Notes:
    """Steps recorded during one change: written to the transfer's history, then emitted."""

    at: float
    transfer: Transfer
    events: list[tuple[EventKind, str, dict[str, Scalar]]] = field(default_factory=list)

    def add(self, kind: EventKind, key: str, **data: Scalar) -> None:
        self.transfer.note(self.at, kind.value, **data)
        self.events.append((kind, f"{self.transfer.id}:{key}", data))
