"""The one place a Redis client is built, and the Redis keys the gateway owns.

Two policies, because two kinds of work share the server:

- `LIVE`: the live transfer state read and written inside a webhook. Twilio gives a webhook
  15 s in all; a Redis that does not answer in half a second is treated as down, so the
  caller gets safe TwiML in time instead of Twilio's error message. One quick retry.
- `QUEUE`: handing events and jobs to RQ. It must not hold a webhook either: redis-py's
  default retries take over 4 s to give up on a refused connection; two quick retries
  (under 0.2 s in all) ride out a failover blip, with a longer socket timeout for RQ's
  larger pipelines.

Every key the gateway writes starts with one of `KEY_PREFIXES`: "g988:" (live state),
"gateway:" (events waiting for the store's worker), "rq:" (RQ's own queues and registries).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

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
    """A Redis client for `url` that fails fast under `policy`."""
    return redis.Redis.from_url(
        url,
        socket_timeout=policy.timeout_s,
        socket_connect_timeout=policy.timeout_s,
        retry=Retry(
            ExponentialBackoff(cap=policy.backoff_cap_s, base=policy.backoff_base_s),
            policy.retries,
        ),
    )
