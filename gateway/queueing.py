"""Enqueueing transfer events and records to RQ, for the worker to write to the store.

The web process builds one `RQSink` and hands it to the call flow as its `EventSink`. Jobs
carry one JSON string each (the JSON serializer, never pickle): an `Event.to_json()` or a
`TransferRecord.to_json()`, both free of clear phone numbers, summaries and coordinates.
Job descriptions name only the job and the event kind, because RQ logs and stores them.

The worker runs as:

    rq worker --with-scheduler --serializer rq.serializers.JSONSerializer \\
        --maintenance-interval 30 --job-monitoring-interval 5 --url $REDIS_URL transfer-events

(`--with-scheduler` is what re-enqueues a retried job after its back-off; the two intervals
bound how long a dead worker's job waits before it is retried: see docs/data.md.)
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from prometheus_client import Counter
from redis.backoff import ExponentialBackoff
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from gateway.events import Event
from gateway.settings import Settings
from gateway.store.privacy import TransferRecord

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
    """A Redis client for the web process that gives up quickly.

    Emitting must not hold a webhook: redis-py's default retries take over 4 s to give up
    on a refused connection; two quick retries (under 0.2 s in all) ride out a failover blip.
    """
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=RedisRetry(ExponentialBackoff(cap=0.1, base=0.02), retries=2),
    )


def event_queue(connection: redis.Redis, name: str = QUEUE_NAME) -> Queue:
    """The queue the store-writing jobs go through, with the JSON serializer."""
    return Queue(name, connection=connection, serializer=JSONSerializer)


def enqueue_event(queue: Queue, event: Event, retry: Retry | None = None) -> Job:
    """Enqueue `gateway.jobs.record_event` for one event.

    Args:
        queue: from `event_queue`.
        event: the event (already checked free of personal data).
        retry: the retry policy; `default_retry()` when None.
    """
    return queue.enqueue(
        "gateway.jobs.record_event",
        event.to_json(),
        retry=retry or default_retry(),
        job_timeout=JOB_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=int(FAILURE_TTL.total_seconds()),
        description=f"record_event {event.kind.value}",
    )


def enqueue_transfer(
    queue: Queue, record: TransferRecord, retention_days: int, retry: Retry | None = None
) -> Job:
    """Enqueue `gateway.jobs.record_transfer` for a protected transfer record.

    Args:
        queue: from `event_queue`.
        record: from `gateway.store.privacy.protect_transfer`.
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
    """An `EventSink` that enqueues each event for the worker to write to the store.

    `emit` never raises: a webhook must answer Twilio whatever happens to the outcome log.
    If Redis cannot be reached, the event is logged in full at ERROR level (it holds no
    personal data) so it can be replayed with `gateway report replay`, and counted.
    """

    def __init__(self, queue: Queue, retry: Retry | None = None) -> None:
        self.queue = queue
        self.retry = retry

    def emit(self, event: Event) -> None:
        try:
            enqueue_event(self.queue, event, self.retry)
        except (redis.RedisError, OSError) as exc:
            ENQUEUE_FAILURES.labels(event.kind.value).inc()
            logger.error(
                "event not enqueued (%s), replay it: %s", type(exc).__name__, event.to_json()
            )
            return
        EVENTS_ENQUEUED.labels(event.kind.value).inc()
