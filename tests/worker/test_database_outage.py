"""The database really goes down for 30 s while events keep arriving; none is lost.

Unlike the quicker outage test in test_jobs.py (a URL where nothing listens), this stops
and restarts a real PostgreSQL server of the test's own, keeping its data and its port:
the worker's cached engine holds connections that die with the server and must recover.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gateway.adapters.queueing import RQSink
from gateway.adapters.store import engines
from gateway.adapters.store.db import create_store_engine
from gateway.adapters.store.models import TransferEvent
from gateway.adapters.store.schema import migrate
from tests.servers import PrivatePostgres
from tests.store import factories as f
from tests.worker.test_jobs import work

OUTAGE_S = 30.0
# Production backs off from 5 s (RETRY_INTERVALS); 1 s keeps the test to the outage's length.
PATIENT = Retry(max=60, interval=[1])


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.remove()


def stored_keys(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(select(TransferEvent.key)))


def test_events_emitted_during_a_30_second_database_outage_are_all_written_once_after_it(
    queue: Queue,
    private_postgres: PrivatePostgres,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", private_postgres.url)
    engine = create_store_engine(private_postgres.url)
    migrate(engine)
    events = [e for n in range(6) for e in f.returned_to_911(f"tr_out{n}", start=n)]
    first, during = events[:5], events[5:]
    patient = RQSink(queue, retry=PATIENT)
    for event in first:
        patient.emit(event)
    work(queue)  # the worker has written these and keeps its engine's connections
    assert stored_keys(engine) == sorted(e.key for e in first)

    private_postgres.stop()
    engine.dispose()
    down_since, arriving = time.monotonic(), iter(during)
    while time.monotonic() - down_since < OUTAGE_S:
        for event in [next(arriving, None) for _ in range(5)]:  # events keep arriving
            if event is not None:
                patient.emit(event)
        work(queue, scheduler=True)  # every attempt fails; its batch stays in Redis
        time.sleep(3)
    for event in arriving:
        patient.emit(event)
    (job_id,) = queue.scheduled_job_registry.get_job_ids()  # waiting for its next retry
    tries_used = PATIENT.max - Job.fetch(job_id, queue.connection, JSONSerializer).retries_left
    assert tries_used >= 5  # it really ran, and failed, again and again
    assert queue.failed_job_registry.count == 0

    private_postgres.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(stored_keys(engine)) < len(events):
        work(queue, scheduler=True)
        time.sleep(0.5)
    assert stored_keys(engine) == sorted(e.key for e in events)  # all, and each once
    engine.dispose()
    engines.dispose_engines()
