"""The RQ worker writes every event to the store exactly once, through faults."""

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
from gateway.queueing import (
    FAILURE_TTL,
    JOB_TIMEOUT_S,
    RETRY_INTERVALS,
    RETRY_MAX,
    enqueue_event,
)
from gateway.store.models import Transfer, TransferEvent
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


def test_an_enqueued_event_is_written_by_the_worker(
    queue: Queue, job_env: str, engine: Engine
) -> None:
    events = f.connected_first_choice("tr_w1")
    enqueued = [enqueue_event(queue, e) for e in events]
    work(queue)
    assert stored_events(engine) == [(e.key, e.kind.value) for e in events]
    assert outcome(engine, "tr_w1") == "connected_first_choice"
    assert {job.latest_result().return_value for job in enqueued} == {jobs.RECORDED}  # type: ignore[union-attr]


def test_jobs_are_enqueued_with_the_chosen_retry_timeout_and_failure_ttl(queue: Queue) -> None:
    job = enqueue_event(queue, f.requested("tr_w2"))
    assert (job.retries_left, job.retry_intervals) == (RETRY_MAX, list(RETRY_INTERVALS))
    assert (job.timeout, job.failure_ttl) == (JOB_TIMEOUT_S, FAILURE_TTL.total_seconds())
    assert job.description == "record_event requested"


def test_a_callback_repeated_by_twilio_is_written_once(
    queue: Queue, job_env: str, engine: Engine
) -> None:
    event = f.requested("tr_w3")
    enqueued = [enqueue_event(queue, event) for _ in range(3)]
    work(queue)
    assert stored_events(engine) == [(event.key, "requested")]
    results = [job.latest_result().return_value for job in enqueued]  # type: ignore[union-attr]
    assert results == [jobs.RECORDED, jobs.DUPLICATE, jobs.DUPLICATE]


def test_a_job_run_again_after_its_write_committed_writes_nothing_twice(
    queue: Queue, job_env: str, engine: Engine
) -> None:
    # The worker wrote and committed, then died before RQ marked the job finished: RQ runs
    # the job again. The idempotency key makes the second run a no-op.
    event = f.routed("tr_w4")
    job = enqueue_event(queue, event)
    assert jobs.record_event(event.to_json()) == jobs.RECORDED
    work(queue)
    assert stored_events(engine) == [(event.key, "routed")]
    assert job.latest_result().return_value == jobs.DUPLICATE  # type: ignore[union-attr]


def test_a_malformed_payload_is_rejected_with_a_logged_reason_and_not_retried(
    queue: Queue, job_env: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # Built by hand: Event refuses a phone number, a forged or corrupted payload may not.
    payload = json.loads(f.requested("tr_w5").to_json())
    payload["data"]["note"] = "call back +1 785 555 0142"
    job = queue.enqueue(
        "gateway.jobs.record_event", json.dumps(payload), retry=QUICK_RETRY, description="bad"
    )
    garbage = queue.enqueue("gateway.jobs.record_event", "{not json", retry=QUICK_RETRY)
    with caplog.at_level(logging.WARNING, logger="gateway.jobs"):
        work(queue)
    assert job.get_status() == JobStatus.FINISHED
    assert job.latest_result().return_value == jobs.REJECTED  # type: ignore[union-attr]
    assert garbage.latest_result().return_value == jobs.REJECTED  # type: ignore[union-attr]
    assert queue.failed_job_registry.count == 0
    assert queue.scheduled_job_registry.count == 0
    assert stored_events(engine) == []
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
    enqueued = [enqueue_event(queue, e, retry=QUICK_RETRY) for e in events]
    with caplog.at_level(logging.ERROR):
        work(queue)
    assert queue.scheduled_job_registry.count == len(events)  # waiting to be retried
    assert queue.failed_job_registry.count == 0
    assert "OperationalError" in caplog.text

    monkeypatch.setenv("DATABASE_URL", job_env)  # the database is back
    time.sleep(1.1)  # the retry interval
    work(queue, scheduler=True)
    # Retried jobs come back in any order: every event is there once, the outcome is right.
    assert sorted(stored_events(engine)) == sorted((e.key, e.kind.value) for e in events)
    assert outcome(engine, "tr_w6") == "returned_to_911"
    assert {job.get_status() for job in enqueued} == {JobStatus.FINISHED}
    assert {
        job.retries_left
        for job in (Job.fetch(j.id, queue.connection, JSONSerializer) for j in enqueued)
    } == {2}


def test_an_event_still_failing_after_every_retry_is_kept_in_the_failed_registry(
    queue: Queue, job_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", refused_postgres_url())
    job = enqueue_event(queue, f.requested("tr_w7"), retry=Retry(max=1))
    work(queue)  # first attempt fails; the retry (no interval) is requeued at once
    work(queue)
    assert job.get_status() == JobStatus.FAILED
    assert queue.failed_job_registry.get_job_ids() == [job.id]
    ttl = queue.connection.ttl(job.key)
    assert FAILURE_TTL.total_seconds() - 60 < ttl <= FAILURE_TTL.total_seconds()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_job_whose_worker_was_killed_mid_write_is_retried_and_written_once(
    queue: Queue, job_env: str, engine: Engine, worker_redis_url: str
) -> None:
    # A real `rq worker` process is killed while its job waits inside a transaction (on a
    # row lock this test holds). PostgreSQL rolls the transaction back; RQ's maintenance
    # later finds the job's heartbeat expired and retries it.
    event = f.requested("tr_w8")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO transfers (transfer_id) VALUES ('tr_w8')"))
    blocker = engine.connect()
    blocker.begin()
    blocker.execute(text("SELECT 1 FROM transfers WHERE transfer_id = 'tr_w8' FOR UPDATE"))
    job = enqueue_event(queue, event, retry=QUICK_RETRY)
    process = start_rq_worker(worker_redis_url, queue.name)
    try:
        wait_for(lambda: job.get_status() == JobStatus.STARTED, "the job to start")
        time.sleep(0.3)  # let it reach the locked row
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    blocker.rollback()
    blocker.close()
    assert stored_events(engine) == []

    # What the next maintenance run does once the heartbeat has expired (here: now).
    registry = StartedJobRegistry(
        queue.name, connection=queue.connection, serializer=JSONSerializer
    )
    registry.cleanup(timestamp=time.time() + JOB_TIMEOUT_S + 61)
    assert queue.scheduled_job_registry.get_job_ids() == [job.id]
    time.sleep(1.1)
    work(queue, scheduler=True)
    assert stored_events(engine) == [(event.key, "requested")]
    assert job.get_status() == JobStatus.FINISHED


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
