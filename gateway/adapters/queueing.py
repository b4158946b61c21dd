"""Handing transfer events and records to RQ, for the worker to write to the store.

The web process builds one `RQSink` and hands it to the call flow as its `EventSink`.
Events are batched, not one job each (one RQ job costs more than writing an event): `emit`
appends the events' JSON (`Event.to_json()`, free of clear phone numbers, summaries and
coordinates) to a Redis list, `gateway:<queue>:pending`, and enqueues a drain job
(`gateway.jobs.drain_events`) only when none is already queued, which a marker key
(`gateway:<queue>:drain-queued`, SET NX with a TTL) says. The drain job moves up to
`BATCH_SIZE` events into a list of its own (`gateway:<queue>:batch:<job id>`), writes them
in one transaction, deletes that list, and enqueues its successor while events remain. A
retried drain job (database down, worker killed) finds its list and writes the same batch
again, which the idempotency keys make harmless: see `gateway.jobs.drain_events`.

Transfer records (`TransferRecord.to_json()`, protected fields only) are still one job each.
Jobs use the JSON serializer, never pickle; job arguments and descriptions name only the job,
the queue and the event kind, and Redis key names hold no personal data, because RQ logs
and stores them.

The worker runs as:

    rq worker --with-scheduler --worker-class rq.worker.SimpleWorker \\
        --serializer rq.serializers.JSONSerializer \\
        --maintenance-interval 30 --job-monitoring-interval 5 --url $REDIS_URL transfer-events

(`--with-scheduler` is what re-enqueues a retried job after its back-off; the two intervals
bound how long a dead worker's job waits before it is retried: see docs/data.md.)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

import redis
from prometheus_client import Counter
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from gateway.adapters.connections import QUEUE, redis_client
from gateway.adapters.store.privacy import TransferRecord
from gateway.adapters.traced import TracedQueue
from gateway.domain.events import Event
from gateway.settings import Settings

logger = logging.getLogger(__name__)

QUEUE_NAME = "transfer-events"

# Back-off between attempts, in seconds; RQ repeats the last interval for later attempts.
# 20 attempts ride out a database outage of about 12 hours (7,430 s for the first ten, then
# hourly) before a job lands in the failed registry.
RETRY_INTERVALS = (5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
RETRY_MAX = 20

# A failed job (every retry spent) stays in RQ's failed registry this long, to be requeued
# (`rq requeue --all --queue transfer-events`) once the cause is fixed: long enough to span
# a long weekend before anyone looks, far shorter than RQ's default of a year. A transfer
# record's job holds encrypted personal fields, so it is also cut to the retention period.
FAILURE_TTL = timedelta(days=14)
# A writing job takes milliseconds; 30 s means the database is stuck, so fail and retry.
JOB_TIMEOUT_S = 30
# Results only say "recorded", "duplicate" or "rejected"; keep them a minute, not the
# default 500 s, so a busy queue does not fill Redis with finished jobs.
RESULT_TTL_S = 60

# The most events one drain job writes in one transaction: about 0.1 s of work on
# PostgreSQL, far inside JOB_TIMEOUT_S, and few enough that a retried batch is cheap.
BATCH_SIZE = 500
# The drain-queued marker's lifetime. A drain job refreshes it each time it starts; it only
# runs out when no drain job has run for this long (one waiting out a long back-off, or
# lost with Redis), and then the next event enqueues a new drain job.
DRAIN_MARKER_TTL_S = 600

EVENTS_ENQUEUED = Counter(
    "gateway_events_enqueued", "Transfer events handed to RQ by this process.", ["kind"]
)
ENQUEUE_FAILURES = Counter(
    "gateway_event_enqueue_failures", "Transfer events that could not be handed to RQ.", ["kind"]
)


def default_retry() -> Retry:
    """The retry policy of every store-writing job."""
    return Retry(max=RETRY_MAX, interval=list(RETRY_INTERVALS))


def redis_connection(settings: Settings) -> redis.Redis:
    """The client events and store jobs go through (`connections.QUEUE`: gives up quickly)."""
    return redis_client(settings.redis_url, QUEUE)


def event_queue(connection: redis.Redis, name: str = QUEUE_NAME) -> Queue:
    """The queue the store-writing jobs go through, with the JSON serializer."""
    return TracedQueue(name, connection=connection, serializer=JSONSerializer)


def pending_key(queue_name: str) -> str:
    """The Redis list of events waiting for a drain job (oldest first)."""
    return f"gateway:{queue_name}:pending"


def drain_marker_key(queue_name: str) -> str:
    """Set while a drain job is queued, running or waiting to be retried."""
    return f"gateway:{queue_name}:drain-queued"


def batch_key(queue_name: str, job_id: str) -> str:
    """The Redis list holding the batch a drain job took, until it is written."""
    return f"gateway:{queue_name}:batch:{job_id}"


def enqueue_drain(queue: Queue, batch_size: int = BATCH_SIZE, retry: Retry | None = None) -> Job:
    """Enqueue `gateway.jobs.drain_events` for the queue's pending events.

    Callers keep to one drain job at a time with the marker (`drain_marker_key`); a second
    one would only take its own batches, never the same events.

    Args:
        queue: from `event_queue`; the job runs on it and drains its pending list.
        batch_size: the most events one job writes (one transaction).
        retry: the retry policy; `default_retry()` when None.
    """
    return queue.enqueue(
        "gateway.jobs.drain_events",
        queue.name,
        batch_size,
        retry=retry or default_retry(),
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=int(FAILURE_TTL.total_seconds()),
        description="drain_events",
    )


def push_events(
    queue: Queue,
    events: Sequence[Event],
    batch_size: int = BATCH_SIZE,
    retry: Retry | None = None,
) -> Job | None:
    """Append events to the queue's pending list; enqueue a drain job if none is queued.

    One round trip (RPUSH of all of them and SET NX, in a transaction), plus the enqueue
    when these are the events that found no drain job queued.

    Returns:
        The drain job this call enqueued, or None (one was already queued, or no events).
    """
    if not events:
        return None
    pipe = queue.connection.pipeline()
    pipe.rpush(pending_key(queue.name), *(event.to_json() for event in events))
    pipe.set(drain_marker_key(queue.name), b"1", nx=True, ex=DRAIN_MARKER_TTL_S)
    _, marked = pipe.execute()
    if not marked:
        return None
    try:
        return enqueue_drain(queue, batch_size, retry)
    except Exception:
        # The events are in the pending list, but no job will drain them: free the marker so
        # the next event enqueues one. (RQSink also logs these events for replay: harmless.)
        with contextlib.suppress(redis.RedisError, OSError):
            queue.connection.delete(drain_marker_key(queue.name))
        raise


def enqueue_transfer(
    queue: Queue, record: TransferRecord, retention_days: int, retry: Retry | None = None
) -> Job:
    """Enqueue `gateway.jobs.record_transfer` for a protected transfer record.

    Args:
        queue: from `event_queue`.
        record: from `gateway.adapters.store.privacy.protect_transfer`.
        retention_days: RETENTION_DAYS; a failed job is not kept longer than this.
        retry: the retry policy; `default_retry()` when None.
    """
    failure_ttl = min(FAILURE_TTL, timedelta(days=retention_days))
    return queue.enqueue(
        "gateway.jobs.record_transfer",
        record.to_json(),
        retry=retry or default_retry(),
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=int(failure_ttl.total_seconds()),
        description="record_transfer",
    )


class RQSink:
    """An `EventSink` that hands each event to the worker through Redis (see the module).

    `emit` never raises: a webhook must answer Twilio whatever happens to the outcome log.
    If Redis cannot be reached, the event is logged in full at ERROR level (it holds no
    personal data) so it can be replayed with `gateway report replay`, and counted.
    """

    def __init__(
        self, queue: Queue, retry: Retry | None = None, batch_size: int = BATCH_SIZE
    ) -> None:
        self.queue = queue
        self.retry = retry
        self.batch_size = batch_size

    def emit(self, *events: Event) -> None:
        try:
            push_events(self.queue, events, self.batch_size, self.retry)
        except (redis.RedisError, OSError) as exc:
            for event in events:
                ENQUEUE_FAILURES.labels(event.kind.value).inc()
                logger.error(
                    "event not enqueued (%s), replay it: %s", type(exc).__name__, event.to_json()
                )
            return
        for event in events:
            EVENTS_ENQUEUED.labels(event.kind.value).inc()
