"""The watchdog's queue: `gateway.jobs.watch` scheduled on the "escalations" RQ queue.

Status callbacks move a transfer from leg to leg; a callback that is lost (or a crash
between two steps) would leave a caller waiting for ever. So each transfer that rings
someone is looked at again by a job some seconds later (`gateway.jobs.watch`), which asks
Twilio about the leg it is stuck on and moves it on (`Escalations.check`).

The job is named by its path, not imported: the worker's entry points (gateway.jobs) build
the app, and the app builds this adapter.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from gateway.adapters.traced import TracedQueue

log = logging.getLogger(__name__)

QUEUE_NAME = "escalations"
WATCH_JOB = "gateway.jobs.watch"
# The watchdog looks 25 s after each step: after one ring timeout and a status callback
# that should have arrived, but well before a counselor gives up waiting.
WATCHDOG_DELAY_S = 25.0
# A watchdog job that fails (Redis or Twilio briefly unreachable) is retried quickly.
WATCHDOG_RETRY = Retry(max=3, interval=[2, 5, 10])
JOB_TIMEOUT_S = 30
RESULT_TTL_S = 60
# A failed watchdog holds only a transfer id; a day is plenty to look at it.
FAILURE_TTL_S = 24 * 3600


def escalation_queue(connection: redis.Redis, name: str = QUEUE_NAME) -> Queue:
    """The RQ queue of watchdog jobs (JSON serializer, never pickle)."""
    return TracedQueue(name, connection=connection, serializer=JSONSerializer)


class Watchdog:
    """Schedules `gateway.jobs.watch` for a transfer. Scheduling never fails a call.

    Args:
        queue: the escalations queue; None disables the watchdog (status callbacks only).
        delay_s: how long after now the job runs (a worker with --with-scheduler moves it
            to the queue when due).
    """

    def __init__(self, queue: Queue | None, delay_s: float = WATCHDOG_DELAY_S) -> None:
        self.queue, self.delay_s = queue, delay_s

    def schedule(self, transfer_id: str, seconds: float | None = None) -> None:
        """Run the watch job for the transfer `seconds` from now (default: `delay_s`)."""
        if self.queue is None:
            return
        try:
            self.queue.enqueue_in(
                timedelta(seconds=self.delay_s if seconds is None else seconds),
                WATCH_JOB,
                transfer_id,
                retry=WATCHDOG_RETRY,
                job_timeout=JOB_TIMEOUT_S,
                result_ttl=RESULT_TTL_S,
                failure_ttl=FAILURE_TTL_S,
                description="transfer watchdog",
            )
        except redis.RedisError:
            # The first dial went out already and status callbacks carry the rest.
            log.warning("watchdog for %s not scheduled", transfer_id)
