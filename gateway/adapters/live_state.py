"""Live transfer state, shared by every gunicorn worker through Redis.

A transfer is one JSON value under `g988:transfer:<id>`, with a TTL: it lives as long as a
call can, then Redis forgets it (the durable record is the event log). Keys never contain a
phone number: they hold transfer ids, PSAP ids and the short transfer code. The value holds
only what the live call needs: ids, triage fields, the dial plan, Twilio call SIDs, and,
sealed (Fernet tokens under ENCRYPTION_KEY, made by `Calls.seal`), the 911 summary the
counselor may ask to hear, the caller's callback number and location, which the 911
escalation line hears in its whisper if the counselor brings 911 back. No coordinates, no
number and no free text in clear: the sealed tokens live only here, in values with their
TTL, never in a key, an event, a log line or a job argument.

Changes go through `TransferStore.update`, an optimistic compare-and-set (a Lua script
that writes only if the value is still the one the change was computed from, else the
change runs again): two webhooks about the same transfer, handled by different workers at
the same moment, never overwrite each other's change.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import redis

from gateway.adapters.connections import StateUnavailable
from gateway.domain.transfer import Transfer, TransferStatus

T = TypeVar("T")

PREFIX = "g988"
TRANSFER_TTL_S = 4 * 3600  # longer than any live call; the event log keeps the record
CODE_DIGITS = 6

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
        if findable and transfer.status == TransferStatus.PENDING and transfer.psap_id:
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
    def remember_callback(self, call_sid: str, sealed: str, ttl_s: int) -> None:
        """The callback number a PSAP's equipment sent with a call nobody registered, sealed,
        kept until the call-taker keys where to route it (in the value, never in a key)."""
        self.redis.set(f"{PREFIX}:callback:{call_sid}", sealed, ex=ttl_s)

    @_reachable
    def callback_for(self, call_sid: str) -> str:
        """The sealed callback number remembered for a call, or ""."""
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


class CodeTries:
    """Wrong transfer codes, counted per call and per calling number, so that a code
    cannot be guessed: 3 wrong codes end a call's code entry; 10 wrong codes from one
    number within 15 minutes (a fixed window) refuse its codes until the window ends.

    The number is never in a key: the per-number counter is keyed by an HMAC-SHA256 of it
    under a secret of the gateway's (so nobody holding a Redis dump can test guessed
    numbers against it).

    Args:
        client: a redis.Redis client.
        secret: the HMAC key (non-empty).
        per_call, per_number, window_s: the limits.
    """

    def __init__(
        self,
        client: redis.Redis,
        secret: str,
        per_call: int = 3,
        per_number: int = 10,
        window_s: int = 900,
    ) -> None:
        if not secret:
            raise ValueError("counting code tries per number needs a secret")
        self.redis, self._secret = client, secret.encode()
        self.per_call, self.per_number, self.window_s = per_call, per_number, window_s

    def _keys(self, call_sid: str, number: str) -> tuple[str, str]:
        digest = hmac.new(self._secret, f"code-tries:{number}".encode(), hashlib.sha256)
        window = int(time.time()) // self.window_s
        call = f"{PREFIX}:code-tries:call:{call_sid}"
        return call, f"{PREFIX}:code-tries:from:{digest.hexdigest()[:32]}:{window}"

    def _verdict(self, on_call: int, from_number: int) -> str | None:
        if on_call >= self.per_call:
            return "too-many-codes"
        if from_number >= self.per_number:
            return "codes-rate-limited"
        return None

    @_reachable
    def refusal(self, call_sid: str, number: str) -> str | None:
        """Why this call may key no more codes ("too-many-codes", "codes-rate-limited"),
        or None while it may."""
        on_call, from_number = self.redis.mget(self._keys(call_sid, number))
        return self._verdict(int(on_call or 0), int(from_number or 0))

    @_reachable
    def count_wrong(self, call_sid: str, number: str) -> str | None:
        """Count one wrong code; then, as `refusal`."""
        pipe = self.redis.pipeline()
        for key in self._keys(call_sid, number):
            pipe.incr(key)
            pipe.expire(key, self.window_s)
        on_call, _, from_number, _ = pipe.execute()
        return self._verdict(int(on_call), int(from_number))


def _text(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
