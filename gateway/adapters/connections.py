"""The one place a Redis client is built, and the Redis keys the gateway owns.

Two policies, because two kinds of work share the server:

- `LIVE`: the live transfer state read and written inside a webhook. Twilio gives a webhook
  15 s in all; a Redis that does not answer in half a second is treated as down, so the
  caller gets safe TwiML in time instead of Twilio's error message. One quick retry.
- `QUEUE`: handing events and jobs to RQ. It must not hold a webhook either: redis-py's
  default retries take over 4 s to give up on a refused connection; two quick retries
  (under 0.2 s in all) ride out a failover blip, with a longer socket timeout for RQ's
  larger pipelines.

A `redis+sentinel://` URL (gateway.redis_url) gives a client of the primary its sentinels
name: each new connection asks them where the primary is, so after a failover the next
command (or redis-py's retry of the one that failed) reaches the new primary. The same
policy bounds the questions to the sentinels.

Every key the gateway writes starts with one of `KEY_PREFIXES`: "g988:" (live state),
"gateway:" (events waiting for the store's worker), "rq:" (RQ's own queues and registries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from gateway.redis_url import SentinelURL, is_sentinel_url, parse_sentinel_url

KEY_PREFIXES = ("g988:", "gateway:", "rq:")


class StateUnavailable(Exception):
    """The live state's Redis did not answer (down, refused, timed out)."""


@dataclass(frozen=True)
class Policy:
    """How long a client waits for Redis, and how it retries."""

    timeout_s: float
    retries: int
    backoff_base_s: float
    backoff_cap_s: float


LIVE = Policy(timeout_s=0.5, retries=1, backoff_base_s=0.01, backoff_cap_s=0.05)
QUEUE = Policy(timeout_s=2.0, retries=2, backoff_base_s=0.02, backoff_cap_s=0.1)


def redis_client(url: str, policy: Policy = LIVE) -> redis.Redis:
    """A Redis client for `url` (one server, or the primary of a Sentinel URL) that fails
    fast under `policy`."""
    retry = Retry(
        ExponentialBackoff(cap=policy.backoff_cap_s, base=policy.backoff_base_s), policy.retries
    )
    if is_sentinel_url(url):
        return _primary(parse_sentinel_url(url), policy, retry)
    return redis.Redis.from_url(
        url,
        socket_timeout=policy.timeout_s,
        socket_connect_timeout=policy.timeout_s,
        retry=retry,
    )


class _PrimaryConnection(SentinelManagedConnection):
    """redis-py's Sentinel connection, dropped when a read is interrupted, as a plain one is.

    redis-py's own keeps it (its read_response defaults to disconnect_on_error=False): after
    rq's shutdown signal interrupted a blocking dequeue, the worker's next command waited
    behind the still-blocked one until it timed out, and a stop took 20 s, not 1.
    """

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("disconnect_on_error", True)
        return super().read_response(*args, **kwargs)


def _primary(address: SentinelURL, policy: Policy, retry: Retry) -> redis.Redis:
    timeouts = {"socket_timeout": policy.timeout_s, "socket_connect_timeout": policy.timeout_s}
    # No retry of a sentinel: the next one is asked instead. (redis-py's default retries
    # took 16 s to give up on two refusing sentinels.)
    once = Retry(NoBackoff(), 0)
    # redis.sentinel has no type annotations.
    sentinels = Sentinel(  # type: ignore[no-untyped-call]
        list(address.sentinels), sentinel_kwargs={**timeouts, "retry": once}
    )
    client: redis.Redis = sentinels.master_for(  # type: ignore[no-untyped-call]
        address.service,
        db=address.db,
        username=address.username,
        password=address.password,
        retry=retry,
        connection_class=_PrimaryConnection,
        **timeouts,
    )
    return client
