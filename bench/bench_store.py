"""Outcome store benchmark: one RQ worker writing events into PostgreSQL, and a big report.

Run with `.venv/bin/python bench/bench_store.py` (or `make bench`). It uses the local
PostgreSQL and Redis ($DATABASE_URL / $REDIS_URL when set), in a database and a Redis db
of its own that it creates and drops, and writes docs/benchmarks.md.

1. Worker throughput: events of whole fictional transfers are emitted for a minute at a
   fixed rate through `RQSink` (as the web process does) while one `rq worker` process
   (SimpleWorker, as docs/data.md recommends) drains them in batches. Every event is then
   counted in the store: none lost, none twice. Side by side, the same events written
   directly in one process (no queue and no Redis): one transaction per event
   (`save_event`), and batches of the drain job's size (`save_events`), to show what the
   queue costs.
2. A summary report over 1,000,000 stored events (about 90,000 transfers), loaded in bulk
   through the same batch writer (`save_events`).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
from rq import Queue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from gateway.adapters.queueing import BATCH_SIZE, RQSink, event_queue, pending_key  # noqa: E402
from gateway.adapters.store.db import create_store_engine  # noqa: E402
from gateway.adapters.store.models import TransferEvent  # noqa: E402
from gateway.adapters.store.reports import Period, summary  # noqa: E402
from gateway.adapters.store.repository import save_event, save_events  # noqa: E402
from gateway.adapters.store.schema import migrate  # noqa: E402
from gateway.domain.events import Event, EventKind  # noqa: E402

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_BASE = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
REDIS_URL = f"{REDIS_BASE}/13"  # a db of its own, flushed before and after
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CENTERS = ["kc-kansas", "ks-statewide", "kc-missouri", "stl", "mo-statewide"]
PSAPS = ["wyandotte-911", "kcmo-911", "douglas-911"]


def transfer_events(n: int) -> list[Event]:
    """One fictional transfer's events: rollover once, then a counselor accepts."""
    tid = f"tr_bench{n:09d}"
    at = START + timedelta(seconds=37 * n)
    center, backup = CENTERS[n % 5], CENTERS[(n + 1) % 5]
    psap = PSAPS[n % 3]
    steps: list[tuple[EventKind, dict[str, object]]] = [
        (EventKind.REQUESTED, {"psap_id": psap, "risk": "mild", "call_type": "emotional-distress"}),
        (EventKind.ROUTED, {"psap_id": psap, "center_id": center, "method": "point",
                            "county_fips": "20209", "ambiguous": n % 7 == 0,
                            "area_code_center_id": backup, "area_code_differs": n % 4 == 0}),
        (EventKind.DIAL_ATTEMPT, {"center_id": center, "attempt": 1}),
        (EventKind.DIAL_RESULT, {"center_id": center, "status": "no-answer"}),
        (EventKind.ROLLOVER, {"from_center_id": center, "to_center_id": backup,
                              "reason": "no-answer"}),
        (EventKind.DIAL_ATTEMPT, {"center_id": backup, "attempt": 2}),
        (EventKind.DIAL_RESULT, {"center_id": backup, "status": "answered"}),
        (EventKind.WHISPER_ACCEPTED, {"center_id": backup}),
        (EventKind.HANDOFF, {"center_id": backup}),
        (EventKind.CALLER_HUNG_UP, {}),
        (EventKind.ENDED, {}),
    ]  # fmt: skip
    return [
        Event(tid, kind, f"{tid}:{i}", at + timedelta(seconds=3 * i), data)  # type: ignore[arg-type]
        for i, (kind, data) in enumerate(steps)
    ]


def events(count: int, first_transfer: int = 0) -> Iterator[Event]:
    n = first_transfer
    produced = 0
    while produced < count:
        for event in transfer_events(n):
            if produced == count:
                return
            yield event
            produced += 1
        n += 1


class Database:
    """A PostgreSQL database of the benchmark's own, migrated, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"gateway_bench_{secrets.token_hex(4)}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"
        self.engine = create_store_engine(self.url)
        migrate(self.engine)

    def count(self) -> tuple[int, int]:
        """(stored events, distinct keys): equal when nothing was written twice."""
        with Session(self.engine) as session:
            total = session.scalar(select(func.count()).select_from(TransferEvent)) or 0
            keys = session.scalar(select(func.count(func.distinct(TransferEvent.key)))) or 0
        return total, keys

    def drop(self) -> None:
        self.engine.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def worker_throughput(rate: int, seconds: int) -> dict[str, float]:
    """Emit at `rate` events/s for `seconds`; one worker process drains; count the rows."""
    db = Database()
    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()
    queue = event_queue(connection)
    sink = RQSink(queue)
    env = dict(os.environ, DATABASE_URL=db.url, REDIS_URL=REDIS_URL)
    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--url", REDIS_URL,
         "--worker-class", "rq.worker.SimpleWorker",
         "--serializer", "rq.serializers.JSONSerializer", "--quiet", queue.name],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        total = rate * seconds
        lag = 0.0
        start = time.perf_counter()
        for i, event in enumerate(events(total)):
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            else:
                lag = max(lag, -wait)
            sink.emit(event)
        enqueued_in = time.perf_counter() - start
        backlog_at_end = connection.llen(pending_key(queue.name))
        while not _drained(queue):
            time.sleep(0.02)
        drained_in = time.perf_counter() - start
        stored, distinct = db.count()
        failed = queue.failed_job_registry.count
        return {
            "total": total,
            "stored": stored,
            "distinct": distinct,
            "failed": failed,
            "enqueued_in": enqueued_in,
            "drained_in": drained_in,
            "backlog_at_end": backlog_at_end,
            "emit_lag": lag,
        }
    finally:
        worker.terminate()
        worker.wait(10)
        connection.flushdb()
        db.drop()


def backlog_throughput(count: int) -> tuple[float, float]:
    """Emit `count` events with no worker running, then time one worker draining them.

    What one worker can do at most (batches are full): the headroom above the offered rate.

    Returns:
        (events/s, mean events per drain job).
    """
    db = Database()
    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()
    queue = event_queue(connection)
    sink = RQSink(queue)
    for event in events(count):
        sink.emit(event)
    env = dict(os.environ, DATABASE_URL=db.url, REDIS_URL=REDIS_URL)
    start = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--url", REDIS_URL,
         "--worker-class", "rq.worker.SimpleWorker",
         "--serializer", "rq.serializers.JSONSerializer", "--quiet", queue.name],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while not _drained(queue):
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        stored, distinct = db.count()
        if (stored, distinct) != (count, count):
            raise RuntimeError(f"backlog: {stored} rows, {distinct} keys, {count} emitted")
        return count / elapsed, count / max(queue.finished_job_registry.count, 1)
    finally:
        worker.terminate()
        worker.wait(10)
        connection.flushdb()
        db.drop()


def _drained(queue: Queue) -> bool:
    """No event pending or in a batch, no drain job queued, running or waiting to retry."""
    connection = queue.connection
    busy = (
        connection.llen(pending_key(queue.name))
        or len(queue)
        or queue.started_job_registry.count
        or queue.scheduled_job_registry.count
        or next(connection.scan_iter(match=f"gateway:{queue.name}:batch:*"), None)
    )
    return not busy


def direct_throughput(count: int, batch_size: int) -> float:
    """The same writes without the queue, in one process: `batch_size` events a transaction.

    With a batch size of 1 this is `save_event`, one transaction per event (what one RQ job
    per event used to do); otherwise `save_events`, as the drain job does.
    """
    db = Database()
    try:
        start = time.perf_counter()
        if batch_size == 1:
            for event in events(count):
                with Session(db.engine) as session, session.begin():
                    save_event(session, event)
        else:
            for batch in batches(events(count), batch_size):
                _bulk(db, batch)
        return count / (time.perf_counter() - start)
    finally:
        db.drop()


def batches(source: Iterator[Event], size: int) -> Iterator[list[Event]]:
    batch: list[Event] = []
    for event in source:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def report_time(event_count: int) -> tuple[float, float, int]:
    """Load `event_count` events in bulk, then time the summary report over them."""
    db = Database()
    try:
        load_start = time.perf_counter()
        for batch in batches(events(event_count), 5500):
            _bulk(db, batch)
        load = time.perf_counter() - load_start
        period = Period(START - timedelta(days=1), START + timedelta(days=400))
        times = []
        rows = 0
        for _ in range(3):
            start = time.perf_counter()
            with Session(db.engine) as session:
                rows = len(summary(session, period, "center"))
            times.append(time.perf_counter() - start)
        return min(times), load, rows
    finally:
        db.drop()


def _bulk(db: Database, batch: list[Event]) -> None:
    # The drain job's writer: outcomes derived exactly as the worker derives them.
    with Session(db.engine) as session, session.begin():
        save_events(session, batch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500, help="events/s offered to the worker")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--backlog", type=int, default=50_000, help="events queued up front")
    parser.add_argument("--report-events", type=int, default=1_000_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    worker = worker_throughput(args.rate, args.seconds)
    backlog, per_job = backlog_throughput(args.backlog)
    direct_single = direct_throughput(5000, 1)
    direct_batched = direct_throughput(50_000, BATCH_SIZE)
    report_s, load_s, rows = report_time(args.report_events)
    sustained = worker["total"] / worker["drained_in"]
    # Under a second's worth of backlog at the end: the offer, not the worker, set the pace.
    pace = ", as fast as offered" if worker["backlog_at_end"] < args.rate else ""
    lost = worker["total"] - worker["distinct"]
    twice = worker["stored"] - worker["distinct"]
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, local PostgreSQL 15 "
        "and Redis 7.",
        f"Command: `{' '.join(['.venv/bin/python bench/bench_store.py', *sys.argv[1:]])}`.",
        "",
        "| what | figure | target |",
        "|---|---|---|",
        f"| one worker, {args.rate} events/s offered for {args.seconds} s | "
        f"{worker['total']:,.0f} events drained in {worker['drained_in']:.1f} s = "
        f"**{sustained:,.0f} events/s**{pace} (backlog when the offer ended: "
        f"{worker['backlog_at_end']:,.0f}; the "
        f"emitter fell behind its schedule by at most {worker['emit_lag'] * 1000:.0f} ms) "
        "| ≥ 500/s for 60 s |",
        f"| events lost / written twice / failed jobs | {lost:.0f} / {twice:.0f} / "
        f"{worker['failed']:.0f} (counted in the store) | 0 / 0 |",
        f"| one worker draining {args.backlog:,} events queued before it started "
        f"(its ceiling; includes its start-up) | **{backlog:,.0f} events/s** "
        f"({per_job:,.0f} events per drain job) | |",
        f"| the same writes without the queue, one process, one transaction per event "
        f"(`save_event`) | {direct_single:,.0f} events/s | |",
        f"| the same writes without the queue, one process, {BATCH_SIZE} events per "
        f"transaction (`save_events`, as the drain job) | {direct_batched:,.0f} events/s | |",
        f"| summary report by center over {args.report_events:,} events | "
        f"**{report_s:.3f} s** ({rows} rows; best of 3; loading took {load_s:.0f} s) | ≤ 2 s |",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("store", "Outcome store and worker", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
