"""Everything the RQ worker runs, and the one place it is bootstrapped. The worker imports
the jobs by name.

`watch` (the "escalations" queue) moves a stuck transfer on, in the gateway app the worker
builds once from the environment (`worker_app`). The other jobs write to the durable store.

`drain_events` writes the events `gateway.adapters.queueing.RQSink` batched in Redis;
`record_transfer` writes one transfer record; `record_event` writes one event (jobs enqueued
one per event by earlier versions, still drained after an upgrade). Each job enters the store
itself (the engine comes from DATABASE_URL and is kept per process) and lets every exception
propagate: a database outage fails the job and RQ retries it with back-off (see
`gateway.adapters.queueing`).

The one exception is a malformed payload (`EventDataError`): retrying cannot fix it, so the
job logs why (redacted) and drops it ("rejected"). It is not raised on purpose: a failed job
keeps its arguments in RQ's failed registry for its failure TTL, and a payload rejected for
looking like personal data is exactly what must not be kept.
"""

from __future__ import annotations

import logging
import threading
from typing import cast

from flask import Flask, current_app, has_app_context
from redis import Redis
from rq import Queue, get_current_job
from sqlalchemy.orm import Session

from gateway.adapters.queueing import (
    DRAIN_MARKER_TTL_S,
    batch_key,
    drain_marker_key,
    enqueue_drain,
    event_queue,
    pending_key,
)
from gateway.adapters.store.engines import store_engine
from gateway.adapters.store.privacy import Cipher, TransferRecord, redact
from gateway.adapters.store.repository import (
    purge_personal_fields,
    save_event,
    save_events,
    save_transfer,
)
from gateway.app import create_app
from gateway.domain.events import Event, EventDataError
from gateway.settings import Settings
from gateway.web.context import gateway

logger = logging.getLogger(__name__)

RECORDED = "recorded"
DUPLICATE = "duplicate"
REJECTED = "rejected"


_WORKER_APP: list[Flask] = []
_WORKER_APP_LOCK = threading.Lock()


def worker_app() -> Flask:
    """The gateway app a worker process runs the watchdog in, built once from the
    environment."""
    with _WORKER_APP_LOCK:
        if not _WORKER_APP:
            _WORKER_APP.append(create_app())
        return _WORKER_APP[0]


def watch(transfer_id: str) -> str:
    """RQ job: move a stuck transfer on (`Escalations.check`). Exceptions propagate, so RQ
    retries the job.

    It runs in the app context it is given (a test's), or in the worker's own app.

    Returns:
        What it found: "settled", "in-flight", "rolled-over" or "gone".
    """
    app = current_app if has_app_context() else worker_app()
    with app.app_context():
        return str(gateway().escalations.check(transfer_id))


def _reject(what: str, exc: EventDataError) -> str:
    logger.warning("%s rejected, not retried: %s", what, redact(str(exc)))
    return REJECTED


def record_event(payload: str) -> str:
    """Write one transfer event (an `Event.to_json()` string) to the store, exactly once.

    Returns:
        "recorded", "duplicate" (its key was already stored) or "rejected" (malformed).
    """
    try:
        event = Event.from_json(payload)
    except EventDataError as exc:
        return _reject("event payload", exc)
    with Session(store_engine()) as session, session.begin():
        new = save_event(session, event)
    logger.info("event %s %s: %s", event.kind.value, event.transfer_id, "new" if new else "dup")
    return RECORDED if new else DUPLICATE


def drain_events(queue_name: str, batch_size: int) -> dict[str, int]:
    """Write one batch of the queue's pending events in one transaction (an RQ job).

    1. Take the batch: the events this job's batch list already holds (it is a retry), else
       up to `batch_size` events moved one by one (LMOVE: each is in exactly one list at
       any moment) from the pending list into it.
    2. Parse them; a malformed one is logged (redacted) and dropped, the rest still go in.
    3. Write them with `save_events` and commit.
    4. Delete the batch list: the batch is done.
    5. Enqueue the next drain job if events are pending; otherwise clear the marker.

    A failure before 4 (database down, worker killed, timeout) leaves the batch in its
    list, and RQ's retry of this job writes it again; events already committed are then
    duplicates, which their idempotency keys make no-ops. Nothing is lost, nothing is
    written twice.

    Returns:
        {"recorded": new events, "duplicate": already stored, "rejected": malformed}.
    """
    job = get_current_job()
    if job is None:
        raise RuntimeError("drain_events runs as an RQ job (it needs its job id)")
    connection = job.connection
    pending, batch = pending_key(queue_name), batch_key(queue_name, job.id)
    # Refresh the marker: a drain job is alive, no other is needed yet.
    connection.expire(drain_marker_key(queue_name), DRAIN_MARKER_TTL_S)
    # The worker's connection does not decode responses: list items are bytes.
    payloads = cast(list[bytes], connection.lrange(batch, 0, -1))
    if not payloads:
        payloads = _take_batch(connection, pending, batch, batch_size)
    events: list[Event] = []
    rejected = 0
    for payload in payloads:
        try:
            events.append(Event.from_json(payload.decode("utf-8")))
        except (EventDataError, UnicodeDecodeError) as exc:
            rejected += 1
            _reject("event payload", EventDataError(str(exc)))
    with Session(store_engine()) as session, session.begin():
        new = save_events(session, events)
    connection.delete(batch)
    _continue_draining(event_queue(connection, queue_name), batch_size)
    duplicates = len(events) - len(new)
    logger.info("drained %d events: %d new, %d dup", len(payloads), len(new), duplicates)
    return {RECORDED: len(new), DUPLICATE: duplicates, REJECTED: rejected}


def _take_batch(connection: Redis, pending: str, batch: str, batch_size: int) -> list[bytes]:
    waiting = min(int(connection.llen(pending)), batch_size)
    if not waiting:
        return []
    pipe = connection.pipeline(transaction=False)
    for _ in range(waiting):
        pipe.lmove(pending, batch, "LEFT", "RIGHT")
    # Another drain job may have taken some meanwhile: those come back as None.
    return [payload for payload in pipe.execute() if payload is not None]


def _continue_draining(queue: Queue, batch_size: int) -> None:
    connection, marker = queue.connection, drain_marker_key(queue.name)
    pending = pending_key(queue.name)
    if connection.llen(pending):
        connection.expire(marker, DRAIN_MARKER_TTL_S)
        enqueue_drain(queue, batch_size)
        return
    connection.delete(marker)
    # An event pushed between the LLEN and the DELETE saw the marker and enqueued nothing.
    if connection.llen(pending) and connection.set(marker, b"1", nx=True, ex=DRAIN_MARKER_TTL_S):
        enqueue_drain(queue, batch_size)


def record_transfer(payload: str) -> str:
    """Write a protected transfer record (a `TransferRecord.to_json()` string). Idempotent.

    Returns:
        "recorded", or "rejected" (malformed).
    """
    try:
        record = TransferRecord.from_json(payload)
    except EventDataError as exc:
        return _reject("transfer payload", exc)
    settings = Settings.from_env()
    save_transfer(store_engine(settings), record, Cipher.from_settings(settings))
    logger.info("transfer record %s saved", record.transfer_id)
    return RECORDED


def purge_personal_data() -> int:
    """Delete personal fields older than RETENTION_DAYS; returns how many transfers."""
    settings = Settings.from_env()
    with Session(store_engine(settings)) as session, session.begin():
        purged = purge_personal_fields(session, settings.retention_days)
    logger.info("retention: personal fields deleted from %d transfers", purged)
    return purged
