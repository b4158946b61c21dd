"""The event spool (gateway/adapters/spool.py): events Redis would not take are kept on disk
and handed over once it takes them, and what a Redis restarted empty lost is pushed again;
the store's idempotency keys make a second copy harmless, so each is written once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.adapters.connections import QUEUE, redis_client
from gateway.adapters.queueing import event_queue, pending_key
from gateway.adapters.spool import SpoolingSink
from gateway.domain.events import Event, EventKind
from tests.faults.faulty_redis import FaultyRedis

QUEUE_NAME = "spool-test"


def event(n: int) -> Event:
    at = datetime(2026, 12, 1, 12, 0, n, tzinfo=UTC)
    return Event("tr_00000000000000aa", EventKind.DIAL_ATTEMPT, f"k{n}", at, {"attempt": n})


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FaultyRedis]:
    built = FaultyRedis(tmp_path / "redis")
    built.start()
    yield built
    built.stop()


@pytest.fixture
def sinks() -> Iterator[list[SpoolingSink]]:
    made: list[SpoolingSink] = []
    yield made
    for sink in made:
        sink.queue.connection.close()


def sink_for(server: FaultyRedis, spool: Path, made: list[SpoolingSink]) -> SpoolingSink:
    made.append(SpoolingSink(event_queue(redis_client(server.url, QUEUE), QUEUE_NAME), spool))
    return made[-1]


def queued_keys(server: FaultyRedis) -> list[str]:
    client = redis_client(server.url)
    try:
        raw = client.lrange(pending_key(QUEUE_NAME), 0, -1)
    finally:
        client.close()
    return [Event.from_json(item.decode()).key for item in raw]


def test_events_redis_refuses_are_spooled_then_queued_first_once_it_answers(
    server: FaultyRedis, tmp_path: Path, sinks: list[SpoolingSink]
) -> None:
    sink = sink_for(server, tmp_path / "spool", sinks)
    sink.emit(event(1))
    server.kill()
    sink.emit(event(2), event(3))  # must not raise
    assert queued_keys_after(server) == ["k1"]  # k2, k3 only on disk: the server restarted
    assert [line.count('"key"') for line in sink.path.read_text().splitlines()] == [1, 1]

    sink.emit(event(4))

    # The server restarted (a new run id), so k1 is pushed again in case its AOF lost it:
    # the store keeps one row per key.
    assert queued_keys(server) == ["k1", "k1", "k2", "k3", "k4"]
    assert not sink.path.exists()


def queued_keys_after(server: FaultyRedis) -> list[str]:
    server.start()  # from its AOF: what it had taken is still there
    return queued_keys(server)


def test_a_redis_restarted_empty_gets_the_recent_events_again(
    server: FaultyRedis, tmp_path: Path, sinks: list[SpoolingSink]
) -> None:
    sink = sink_for(server, tmp_path / "spool", sinks)
    sink.emit(event(1), event(2))
    server.restart_empty()

    sink.emit(event(3))

    assert queued_keys(server) == ["k1", "k2", "k3"]


def test_the_spool_of_a_process_that_died_is_adopted_and_a_cut_line_dropped(
    server: FaultyRedis, tmp_path: Path, sinks: list[SpoolingSink]
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True).stdout.strip()  # fmt: skip
    cut = event(2).to_json()[:20]
    (spool / f"events-{dead}.jsonl").write_text(event(1).to_json() + "\n" + cut)

    replayed = sink_for(server, spool, sinks).replay()

    assert replayed == 1
    assert queued_keys(server) == ["k1"]
    assert list(spool.iterdir()) == []
