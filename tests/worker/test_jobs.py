"""The RQ worker writes every event to the store exactly once, in batches, through faults."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq import Queue, Retry, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from gateway import jobs
from gateway.adapters.queueing import (
    BATCH_SIZE,
    DRAIN_MARKER_TTL_S,
    FAILURE_TTL,
    JOB_TIMEOUT_S,
    RETRY_INTERVALS,
    RETRY_MAX,
    RQSink,
    batch_key,
    drain_marker_key,
    pending_key,
    push_events,
)
from gateway.adapters.store.models import Transfer, TransferEvent
from gateway.adapters.store.repository import save_events
from tests.store import factories as f

QUICK_RETRY = Retry(max=3, interval=[1])  # production backs off from 5 s; tests wait 1 s


def work(queue: Queue, scheduler: bool = False) -> None:
    """Run a worker in this process until the queue is empty."""
    worker = SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer)
    worker.work(burst=True, with_scheduler=scheduler)


def stored_events(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(select(TransferEvent.key, TransferEvent.kind).order_by("id"))
        return [(key, kind) for key, kind in rows]


def outcome(engine: Engine, tid: str) -> str | None:
    with Session(engine) as session:
        return session.scalar(select(Transfer.outcome).where(Transfer.transfer_id == tid))


def refused_postgres_url() -> str:
    """A PostgreSQL URL on a port where nothing listens: the database is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/gateway"


def sink(queue: Queue, batch_size: int = BATCH_SIZE) -> RQSink:
    return RQSink(queue, retry=QUICK_RETRY, batch_size=batch_size)


def drain_results(queue: Queue) -> list[dict[str, int]]:
    """The return values of the finished drain jobs, oldest first."""
    registry = queue.finished_job_registry
    finished = [Job.fetch(i, queue.connection, JSONSerializer) for i in registry.get_job_ids()]
    finished.sort(key=lambda job: job.enqueued_at or 0)
    return [job.latest_result().return_value for job in finished]  # type: ignore[union-attr]


def leftovers(queue: Queue) -> list[bytes]:
    """The event lists and marker left in Redis: none once everything is written."""
    return sorted(queue.connection.scan_iter(match=f"gateway:{queue.name}:*"))


def test_emitted_events_are_written_by_the_worker_in_one_batch(
    queue: Queue, job_env: str, engine: Engine
) -> None:
    events = f.connected_first_choice("tr_w1")
    for event in events:
        sink(queue).emit(event)
    assert len(queue) == 1  # one drain job, however many events
    work(queue)
    assert stored_events(engine) == [(e.key, e.kind.value) for e in events]
    assert outcome(engine, "tr_w1") == "connected_first_choice"
    assert drain_results(queue) == [{"recorded": len(events), "duplicate": 0, "rejected": 0}]
    assert leftovers(queue) == []


def test_a_backlog_larger_than_a_batch_is_drained_by_successive_jobs(
    queue: Queue, job_env: str, engine: Engine
) -> None:
    events = f.connected_after_rollover("tr_w9") + f.returned_to_911("tr_w10")
    for event in events:
        sink(queue, batch_size=4).emit(event)
    work(queue)
    assert sorted(stored_events(engine)) == sorted((e.key, e.kind.value) for e in events)
    assert outcome(engine, "tr_w9") == "connected_after_rollover"
    assert outcome(engine, "tr_w10") == "returned_to_911"
    recorded = [result["recorded"] for result in drain_results(queue)]
    assert len(recorded) == -(-len(events) // 4) and sum(recorded) == len(events)
    assert leftovers(queue) == []


def test_an_event_emitted_after_the_drain_ends_gets_a_drain_job_of_its_own(
    queue: Queue, job_env: str, engine: Engine
) -> None:
    first, second = f.requested("tr_w11"), f.routed("tr_w11")
    sink(queue).emit(first)
    work(queue)
    sink(queue).emit(second)
    assert len(queue) == 1
    work(queue)
    assert stored_events(engine) == [(first.key, "requested"), (second.key, "routed")]


def test_the_drain_job_is_enqueued_with_the_chosen_retry_timeout_and_failure_ttl(
    queue: Queue,
) -> None:
    job = push_events(queue, [f.requested("tr_w2")])
    assert job is not None
    assert (job.retries_left, job.retry_intervals) == (RETRY_MAX, list(RETRY_INTERVALS))
    assert (job.timeout, job.failure_ttl) == (JOB_TIMEOUT_S, FAILURE_TTL.total_seconds())
    assert (job.description, job.args) == ("drain_events", (queue.name, BATCH_SIZE))
    assert push_events(queue, [f.routed("tr_w2")]) is None  # one drain job is queued already
    marker_ttl = queue.connection.ttl(drain_marker_key(queue.name))
    assert 0 < marker_ttl <= DRAIN_MARKER_TTL_S


def test_a_callback_repeated_by_twilio_is_written_once(
    queue: Queue, job_env: str, engine: Engine
) -> None:
    event = f.requested("tr_w3")
    for _ in range(3):
        sink(queue).emit(event)
    work(queue)
    assert stored_events(engine) == [(event.key, "requested")]
    assert drain_results(queue) == [{"recorded": 1, "duplicate": 2, "rejected": 0}]


def test_a_batch_run_again_after_its_write_committed_writes_nothing_twice(
    queue: Queue, job_env: str, engine: Engine
) -> None:
    # The worker committed, then died before deleting its batch: RQ runs the job again and
    # it writes the same batch. The idempotency keys make the second write a no-op.
    events = f.connected_first_choice("tr_w4")
    for event in events:
        sink(queue).emit(event)
    with Session(engine) as session, session.begin():
        save_events(session, events[:3])  # what the first run committed
    work(queue)
    assert sorted(stored_events(engine)) == sorted((e.key, e.kind.value) for e in events)
    assert drain_results(queue) == [{"recorded": len(events) - 3, "duplicate": 3, "rejected": 0}]
    assert outcome(engine, "tr_w4") == "connected_first_choice"


def test_a_job_enqueued_one_per_event_by_an_earlier_version_is_still_written(
    queue: Queue, job_env: str, engine: Engine
) -> None:
    event = f.routed("tr_w12")
    job = queue.enqueue("gateway.jobs.record_event", event.to_json(), retry=QUICK_RETRY)
    again = queue.enqueue("gateway.jobs.record_event", event.to_json(), retry=QUICK_RETRY)
    work(queue)
    assert stored_events(engine) == [(event.key, "routed")]
    assert job.latest_result().return_value == jobs.RECORDED  # type: ignore[union-attr]
    assert again.latest_result().return_value == jobs.DUPLICATE  # type: ignore[union-attr]


def test_malformed_payloads_are_dropped_with_a_logged_reason_and_the_rest_of_the_batch_written(
    queue: Queue, job_env: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # Built by hand: Event refuses a phone number, a forged or corrupted payload may not.
    payload = json.loads(f.requested("tr_w5").to_json())
    payload["data"]["note"] = "call back +1 785 555 0142"
    good = f.routed("tr_w5")
    pending = pending_key(queue.name)
    queue.connection.rpush(pending, json.dumps(payload), "{not json", b"\xff\xfe")
    sink(queue).emit(good)
    with caplog.at_level(logging.WARNING, logger="gateway.jobs"):
        work(queue)
    assert stored_events(engine) == [(good.key, "routed")]
    assert drain_results(queue) == [{"recorded": 1, "duplicate": 0, "rejected": 3}]
    assert queue.failed_job_registry.count == 0
    assert queue.scheduled_job_registry.count == 0
    assert leftovers(queue) == []
    assert "looks like a phone number" in caplog.text
    assert "malformed event payload" in caplog.text
    assert "555 0142" not in caplog.text


def test_events_wait_out_a_database_outage_and_none_is_lost(
    queue: Queue,
    job_env: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = f.returned_to_911("tr_w6")
    monkeypatch.setenv("DATABASE_URL", refused_postgres_url())
    for event in events[:4]:
        sink(queue).emit(event)
    with caplog.at_level(logging.ERROR):
        work(queue)
    assert "OperationalError" in caplog.text
    (job_id,) = queue.scheduled_job_registry.get_job_ids()  # the drain job, to be retried
    assert queue.failed_job_registry.count == 0
    assert queue.connection.llen(batch_key(queue.name, job_id)) == 4  # its batch, kept
    for event in events[4:]:  # events go on arriving during the outage; no new job for them
        sink(queue).emit(event)
    assert len(queue) == 0
    assert queue.connection.llen(pending_key(queue.name)) == len(events) - 4

    monkeypatch.setenv("DATABASE_URL", job_env)  # the database is back
    time.sleep(1.1)  # the retry interval
    work(queue, scheduler=True)
    assert sorted(stored_events(engine)) == sorted((e.key, e.kind.value) for e in events)
    assert outcome(engine, "tr_w6") == "returned_to_911"
    retried = Job.fetch(job_id, queue.connection, JSONSerializer)
    assert (retried.get_status(), retried.retries_left) == (JobStatus.FINISHED, 2)
    assert leftovers(queue) == []


def test_a_batch_failing_after_every_retry_stays_in_redis_until_its_job_is_requeued(
    queue: Queue, job_env: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = f.requested("tr_w7")
    monkeypatch.setenv("DATABASE_URL", refused_postgres_url())
    job = push_events(queue, [event], retry=Retry(max=1))
    assert job is not None
    work(queue)  # first attempt fails; the retry (no interval) is requeued at once
    work(queue)
    assert job.get_status() == JobStatus.FAILED
    assert queue.failed_job_registry.get_job_ids() == [job.id]
    ttl = queue.connection.ttl(job.key)
    assert FAILURE_TTL.total_seconds() - 60 < ttl <= FAILURE_TTL.total_seconds()
    assert queue.connection.lrange(batch_key(queue.name, job.id), 0, -1) == [
        event.to_json().encode()
    ]

    monkeypatch.setenv("DATABASE_URL", job_env)  # fixed: `rq requeue --all` does this
    queue.failed_job_registry.requeue(job.id)
    work(queue)
    assert stored_events(engine) == [(event.key, "requested")]
    assert leftovers(queue) == []


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_batch_whose_worker_was_killed_mid_write_is_retried_and_written_once(
    queue: Queue, job_env: str, engine: Engine, worker_redis_url: str
) -> None:
    # A real `rq worker` process is killed while its drain job waits inside a transaction
    # (on a row lock this test holds). PostgreSQL rolls the transaction back; RQ's
    # maintenance later finds the job's heartbeat expired and retries it, and the retry
    # writes the batch the killed job had taken.
    events = [f.requested("tr_w8"), f.routed("tr_w8")]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO transfers (transfer_id) VALUES ('tr_w8')"))
    blocker = engine.connect()
    blocker.begin()
    blocker.execute(text("SELECT 1 FROM transfers WHERE transfer_id = 'tr_w8' FOR UPDATE"))
    for event in events:
        sink(queue).emit(event)
    (job_id,) = queue.job_ids
    job = Job.fetch(job_id, queue.connection, JSONSerializer)
    process = start_rq_worker(worker_redis_url, queue.name)
    try:
        wait_for(lambda: waiting_for_a_lock(engine), "the job to wait on the locked row")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    blocker.rollback()
    blocker.close()
    assert stored_events(engine) == []
    assert queue.connection.llen(batch_key(queue.name, job.id)) == 2
    late = f.dial("tr_w8", 5, "ksphq", "answered")  # arrives while the dead job waits
    for event in late:
        sink(queue).emit(event)

    # What the next maintenance run does once the heartbeat has expired (here: now).
    registry = StartedJobRegistry(
        queue.name, connection=queue.connection, serializer=JSONSerializer
    )
    registry.cleanup(timestamp=time.time() + JOB_TIMEOUT_S + 61)
    assert queue.scheduled_job_registry.get_job_ids() == [job.id]
    time.sleep(1.1)
    work(queue, scheduler=True)
    assert sorted(stored_events(engine)) == sorted((e.key, e.kind.value) for e in [*events, *late])
    assert job.get_status() == JobStatus.FINISHED
    assert leftovers(queue) == []


def waiting_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")))


def start_rq_worker(redis_url: str, queue_name: str) -> subprocess.Popen[bytes]:
    rq = Path(sys.executable).parent / "rq"
    command = [
        str(rq), "worker", "--worker-class", "rq.worker.SimpleWorker",
        "--serializer", "rq.serializers.JSONSerializer", "--url", redis_url, queue_name,
    ]  # fmt: skip
    return subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_for(check: object, what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
