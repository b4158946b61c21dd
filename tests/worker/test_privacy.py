"""No clear phone number, summary or coordinate in Redis, job arguments or logs."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import zlib
from datetime import timedelta

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway import jobs
from gateway.adapters.queueing import (
    RQSink,
    enqueue_transfer,
    event_queue,
    pending_key,
    redis_connection,
)
from gateway.adapters.store.models import Transfer
from gateway.adapters.store.privacy import Cipher, TransferRecord, protect_transfer
from gateway.settings import Settings
from tests.store import factories as f
from tests.worker.conftest import ENCRYPTION_KEY

CALLER = "+1 785 555 0133"
SUMMARY = "Caller on the bridge at Fifth and Main, wants to talk to someone."
LATITUDE, LONGITUDE = 39.114127, -94.627311
# Every way the secrets could show up in text.
CLEAR = ("7855550133", "785 555 0133", "555-0133", "5550133", "Fifth and Main", "39.11", "94.62")


def redis_contents(connection: redis.Redis) -> str:
    """Every key and value in the (test's own) Redis database, decompressed, as text."""
    parts: list[bytes] = []
    for key in connection.scan_iter(count=1000):
        parts.append(key)
        kind = connection.type(key)
        if kind == b"string":
            parts.append(connection.get(key) or b"")
        elif kind == b"hash":
            for field, value in connection.hgetall(key).items():
                parts += [field, value]
        elif kind == b"list":
            parts += connection.lrange(key, 0, -1)
        elif kind == b"set":
            parts += list(connection.smembers(key))
        elif kind == b"zset":
            parts += [member for member, _ in connection.zrange(key, 0, -1, withscores=True)]
        elif kind == b"stream":
            for _, fields in connection.xrange(key):
                for field, value in fields.items():
                    parts += [field, value]
    return "\n".join(_text(part) for part in parts)


def _text(value: bytes) -> str:
    # RQ keeps job data and exception text zlib-compressed: look inside.
    with contextlib.suppress(zlib.error):
        value = zlib.decompress(value)
    return value.decode("utf-8", errors="replace")


def protected_record(tid: str) -> TransferRecord:
    base = TransferRecord(transfer_id=tid, created_at=f.T0, psap_id="psap-douglas")
    settings = Settings.from_env()
    return protect_transfer(
        settings, base, caller=CALLER, summary=SUMMARY, latitude=LATITUDE, longitude=LONGITUDE
    )


def work(queue: Queue) -> None:
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)


def test_the_redis_scan_finds_a_number_when_one_is_there(
    queue: Queue, connection: redis.Redis
) -> None:
    # The check below is only worth something if it can see a leak: show it does.
    queue.enqueue("gateway.jobs.record_event", json.dumps({"note": CALLER}))
    assert "785 555 0133" in redis_contents(connection)


def test_redis_holds_no_number_summary_or_coordinate_before_or_after_the_worker(
    queue: Queue, connection: redis.Redis, job_env: str, engine: Engine
) -> None:
    sink = RQSink(queue)
    for event in f.connected_first_choice("tr_p1"):
        sink.emit(event)
    enqueue_transfer(queue, protected_record("tr_p1"), retention_days=90)
    before = redis_contents(connection)
    assert "gateway.jobs.record_transfer" in before  # the scan sees the jobs
    assert f"{pending_key(queue.name)}\n" in before  # and the events waiting for the worker
    assert '"kind": "whisper_accepted"' in before
    work(queue)
    after = redis_contents(connection)
    for clear in CLEAR:
        assert clear not in before
        assert clear not in after
    with Session(engine) as session:
        row = session.get(Transfer, "tr_p1")
        assert row is not None and row.caller_encrypted is not None
        assert Cipher(ENCRYPTION_KEY).decrypt(row.caller_encrypted) == "+17855550133"
        assert (row.latitude, row.longitude) == (39.11, -94.63)
        assert row.outcome == "connected_first_choice"


def test_the_worker_and_the_jobs_log_no_number_summary_or_coordinate(
    queue: Queue, job_env: str, caplog: pytest.LogCaptureFixture
) -> None:
    bad = json.loads(protected_record("tr_p2").to_json())
    bad["caller_hash"] = CALLER  # a broken web process sending the number in clear
    with caplog.at_level(logging.DEBUG):
        RQSink(queue).emit(f.requested("tr_p2"))
        enqueue_transfer(queue, protected_record("tr_p2"), retention_days=90)
        queue.enqueue("gateway.jobs.record_transfer", json.dumps(bad))
        work(queue)
    assert "rejected" in caplog.text  # the bad payload was seen and refused
    for clear in CLEAR:
        assert clear not in caplog.text


def test_a_failed_transfer_job_is_not_kept_longer_than_the_retention_period(
    queue: Queue,
) -> None:
    job = enqueue_transfer(queue, TransferRecord("tr_p3", f.T0), retention_days=3)
    assert job.failure_ttl == timedelta(days=3).total_seconds()


def test_an_event_redis_refuses_is_logged_whole_for_replay_and_the_webhook_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = redis_connection(Settings(redis_url="redis://127.0.0.1:1/0"))  # nothing listens
    event = f.routed("tr_p4")
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="gateway.adapters.queueing"):
        RQSink(event_queue(dead)).emit(event)  # must not raise
    assert time.monotonic() - started < 1.0  # nor hold the webhook
    assert f"replay it: {event.to_json()}" in caplog.text
    dead.close()


def test_the_retention_job_deletes_personal_fields_of_old_transfers(
    queue: Queue, job_env: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETENTION_DAYS", "30")
    assert jobs.record_transfer(protected_record("tr_p5").to_json()) == jobs.RECORDED
    job = queue.enqueue("gateway.jobs.purge_personal_data")
    work(queue)
    assert job.latest_result().return_value == 1  # type: ignore[union-attr]
    with Session(engine) as session:
        row = session.get(Transfer, "tr_p5")
        assert row is not None
        assert (row.caller_encrypted, row.summary_encrypted, row.latitude) == (None, None, None)
        assert row.caller_hash is not None
