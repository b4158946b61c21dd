"""Live transfer state, shared by every gunicorn worker through Redis.

A transfer is one JSON value under `g988:transfer:<id>`, with a TTL: it lives as long as a
call can, then Redis forgets it (the durable record is the event log). Keys never contain a
phone number: they hold transfer ids, PSAP ids and the short transfer code. The value holds
only what the live call needs: ids, triage fields, the dial plan, Twilio call SIDs, the
911 summary the counselor may ask to hear, and the caller's callback number, which the 911
escalation line hears in its whisper if the counselor brings 911 back. No coordinates. The
callback number lives only here, in the value with its TTL: never in a key, an event, a log
line or a job argument.

Changes go through `TransferStore.update`, an optimistic compare-and-set (a Lua script
that writes only if the value is still the one the change was computed from, else the
change runs again): two webhooks about the same transfer, handled by different workers at
the same moment, never overwrite each other's change.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import redis

from gateway.adapters.connections import StateUnavailable

T = TypeVar("T")

PREFIX = "g988"
TRANSFER_TTL_S = 4 * 3600  # longer than any live call; the event log keeps the record
CODE_DIGITS = 6
MAX_HISTORY = 100

# Transfer statuses. "pending": registered, its call has not arrived. "dialing": the caller
# waits while centers are rung. "connected": a counselor accepted. The rest are final.
PENDING, DIALING, CONNECTED = "pending", "dialing", "connected"
RETURNED, ABANDONED, ENDED = "returned", "abandoned", "ended"
ACTIVE = frozenset({DIALING, CONNECTED})

# Attempt statuses: the center's line is "dialing" -> "answered" (whisper) -> "accepted",
# or "failed" with a result (no-answer, busy, failed, declined, machine, canceled, closed).
ATTEMPT_OPEN = frozenset({"dialing", "answered"})

# Escalation (bounce-back to 911) statuses: "dialing" while the PSAP's numbers are rung,
# then "joined" (a 911 call-taker pressed 1 and is in the room), "failed" (every number
# failed) or "canceled" (the caller left first).
ESCALATION_DIALING, ESCALATION_JOINED = "dialing", "joined"
ESCALATION_FAILED, ESCALATION_CANCELED = "failed", "canceled"
# Announcements kept for a counselor who is in the * menu, and the escalation status under
# which each still holds when they are back in the room.
UNREACHED_NOTICE = "/voice/escalation/unreached"
STILL_CALLING_NOTICE = "/voice/escalation/still-calling"
NOTICE_HOLDS = {UNREACHED_NOTICE: ESCALATION_FAILED, STILL_CALLING_NOTICE: ESCALATION_DIALING}
# A counselor counts as in the menu this long at most (it answers within seconds): past it,
# their return's join event was lost, and a notice is announced in the room.
MENU_AWAY_S = 30.0


@dataclass
class EscalationAttempt:
    """One PSAP number rung for an escalation: "dialing" -> "answered" (whisper) -> "joined",
    or "failed" with a result (busy, no-answer, failed, canceled, machine, no-key, refused,
    lost, caller-left)."""

    number_index: int
    status: str = "dialing"
    result: str = ""
    call_sid: str = ""
    started_at: float = 0.0


@dataclass
class Escalation:
    """A counselor's request to bring 911 back into the room.

    Attributes:
        seq: 1 for the transfer's first escalation, 2 for a second one after a failure.
        by: "key" (the counselor's * menu) or "api" (the center's system).
        requested_at: when it was asked for.
        status: see ESCALATION_* above.
        attempts: numbers rung so far; attempt i rings number i % len(numbers).
        notice: the path of an announcement for the counselor that waits until they are
            back in the caller's room (they were in the * menu when it was due).
    """

    seq: int
    by: str
    requested_at: float
    status: str = ESCALATION_DIALING
    attempts: list[EscalationAttempt] = field(default_factory=list)
    notice: str = ""


@dataclass
class Attempt:
    """One center rung for one transfer."""

    center_id: str
    status: str = "dialing"
    result: str = ""
    call_sid: str = ""
    started_at: float = 0.0


LegAttempt = TypeVar("LegAttempt", Attempt, EscalationAttempt)


def still_open(attempt: LegAttempt | None, sid: str) -> LegAttempt | None:
    """The attempt if it is still undecided and `sid` (when given) is its leg.

    A status callback or webhook for a decided attempt, or from another leg, is a duplicate
    or a late delivery: the caller gets None and changes nothing. The first callback that
    names a leg binds it to the attempt.
    """
    if attempt is None or attempt.status not in ATTEMPT_OPEN:
        return None
    if sid and attempt.call_sid and attempt.call_sid != sid:
        return None
    if sid and not attempt.call_sid:
        attempt.call_sid = sid
    return attempt


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
        callback_number: the caller's number as the PSAP gave it ("" if not given); read
            only by the escalation whisper. Kept out of repr so it never reaches a log.
        location_sealed: where the caller is, as the escalation whisper says it
            (`gateway.services.intake.spoken_location`), encrypted under ENCRYPTION_KEY; "" without
            a key. Read only by the escalation whisper; never in clear in Redis.
        escalation: the latest bounce-back to 911, if the counselor asked for one.
        counselor_away_since: when the accepting counselor went into the * menu, out of
            the caller's room; None while they are in it.
    """

    id: str
    origin: str
    psap_id: str | None
    status: str
    created_at: float
    dial_plan: list[str]
    code: str = ""
    risk: str | None = None
    call_type: str | None = None
    language: str | None = None
    veteran: bool = False
    consent: bool = False
    summary: str = ""
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
    callback_number: str = field(default="", repr=False)
    location_sealed: str = field(default="", repr=False)
    escalation: Escalation | None = None
    counselor_away_since: float | None = None

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
        return next((a for a in self.attempts if a.status == "accepted"), None)

    def accepted_by(self, center_id: str) -> bool:
        """Whether a counselor of this center has the caller (who may escalate, and see it)."""
        accepted = self.accepted()
        return accepted is not None and accepted.center_id == center_id

    def note(self, at: float, kind: str, **detail: Any) -> None:
        """Add a step to the transfer's own timeline (bounded: a loop cannot grow it)."""
        if len(self.history) < MAX_HISTORY:
            self.history.append({"at": at, "kind": kind, **detail})


# Compare-and-set in one round trip: write the new value only if the key still holds the
# value the change was computed from. (WATCH/MULTI/EXEC took three round trips; under load
# each one is a context switch, and a webhook makes one or two changes.)
SWAP_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


_Record = TypeVar("_Record")


def _known(cls: type[_Record], data: dict[str, Any]) -> _Record:
    """`cls(**data)` (a dataclass), leaving out keys `cls` does not have. Every webhook
    reads a transfer: only a value from another version pays for the filtering."""
    try:
        return cls(**data)
    except TypeError:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{name: value for name, value in data.items() if name in names})


def new_transfer_id() -> str:
    """A random transfer id; nothing in it is derived from the caller."""
    return "tr_" + secrets.token_hex(8)


P = ParamSpec("P")


def _reachable(method: Callable[P, T]) -> Callable[P, T]:
    """Redis's errors become `StateUnavailable`: the services never see the library's."""

    @wraps(method)
    def translated(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            raise StateUnavailable(type(exc).__name__) from exc

    return translated


class TransferStore:
    """Transfers in Redis: create, find by id, code or PSAP, and change atomically.

    Every method raises `StateUnavailable` when Redis does not answer.

    Args:
        client: a redis.Redis client (the one seam to Redis).
        ttl_s: how long a transfer's state lives.
    """

    def __init__(self, client: redis.Redis, ttl_s: int = TRANSFER_TTL_S) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self._swap = client.register_script(SWAP_IF_UNCHANGED)

    @staticmethod
    def key(transfer_id: str) -> str:
        return f"{PREFIX}:transfer:{transfer_id}"

    @staticmethod
    def code_key(code: str) -> str:
        return f"{PREFIX}:code:{code}"

    @staticmethod
    def pending_key(psap_id: str) -> str:
        return f"{PREFIX}:pending:{psap_id}"

    @_reachable
    def create(self, transfer: Transfer, window_s: int, *, findable: bool = True) -> None:
        """Store a new transfer; a pending one is also findable by its PSAP's next call.

        Args:
            transfer: the new transfer.
            window_s: how long a pending one waits for its call.
            findable: False for a transfer created for the call already on the line (a
                keyed ZIP or #): another call from the same PSAP must never claim it.
        """
        pipe = self.redis.pipeline()
        pipe.set(self.key(transfer.id), transfer.to_json(), ex=self.ttl_s)
        if findable and transfer.status == PENDING and transfer.psap_id:
            pending = self.pending_key(transfer.psap_id)
            pipe.zadd(pending, {transfer.id: transfer.created_at})
            pipe.expire(pending, window_s)
        pipe.execute()

    @_reachable
    def reserve_code(self, transfer_id: str, window_s: int) -> str:
        """A fresh numeric code, unique among live ones, pointing at `transfer_id`."""
        while True:
            code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            if self.redis.set(self.code_key(code), transfer_id, nx=True, ex=window_s):
                return code

    @_reachable
    def get(self, transfer_id: str) -> Transfer | None:
        raw = self.redis.get(self.key(transfer_id))
        return None if raw is None else Transfer.from_json(_text(raw))

    @_reachable
    def by_code(self, code: str) -> str | None:
        raw = self.redis.get(self.code_key(code))
        return None if raw is None else _text(raw)

    @_reachable
    def pending_for(self, psap_id: str, since: float) -> list[str]:
        """Ids of the PSAP's transfers registered since `since` that still wait for a call."""
        ids = self.redis.zrangebyscore(self.pending_key(psap_id), since, "+inf")
        return [_text(i) for i in ids]

    @_reachable
    def link_call(self, call_sid: str, transfer_id: str) -> None:
        """Remember which transfer a caller's leg belongs to (for its status callback)."""
        self.redis.set(f"{PREFIX}:call:{call_sid}", transfer_id, ex=self.ttl_s)

    @_reachable
    def remember_callback(self, call_sid: str, number: str, ttl_s: int) -> None:
        """The callback number a PSAP's equipment sent with a call nobody registered, kept
        until the call-taker keys where to route it (in the value, never in a key)."""
        self.redis.set(f"{PREFIX}:callback:{call_sid}", number, ex=ttl_s)

    @_reachable
    def callback_for(self, call_sid: str) -> str:
        """The callback number remembered for a call, or ""."""
        raw = self.redis.get(f"{PREFIX}:callback:{call_sid}")
        return "" if raw is None else _text(raw)

    @_reachable
    def transfer_for_call(self, call_sid: str) -> str | None:
        raw = self.redis.get(f"{PREFIX}:call:{call_sid}")
        return None if raw is None else _text(raw)

    @_reachable
    def forget_pending(self, transfer: Transfer) -> None:
        """A transfer whose call arrived is no longer findable by code or PSAP."""
        pipe = self.redis.pipeline()
        if transfer.code:
            pipe.delete(self.code_key(transfer.code))
        if transfer.psap_id:
            pipe.zrem(self.pending_key(transfer.psap_id), transfer.id)
        pipe.execute()

    @_reachable
    def update(
        self, transfer_id: str, change: Callable[[Transfer], T]
    ) -> tuple[Transfer, T] | None:
        """Apply `change` to the stored transfer atomically and save it.

        `change` may run more than once (when another worker changed the transfer
        meanwhile), so it must only modify the transfer it is given: no calls out.

        Returns:
            The saved transfer and what `change` returned; None for an unknown transfer.
        """
        key = self.key(transfer_id)
        while True:
            raw = self.redis.get(key)
            if raw is None:
                return None
            text = _text(raw)
            transfer = Transfer.from_json(text)
            result = change(transfer)
            changed = transfer.to_json()
            if changed == text:
                return transfer, result  # a duplicate or irrelevant callback: nothing to write
            if self._swap(keys=[key], args=[raw, changed, self.ttl_s]):
                return transfer, result


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
