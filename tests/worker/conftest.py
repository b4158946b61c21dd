"""A real Redis (a database number of our own, emptied per test) and a real store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from cryptography.fernet import Fernet
from rq import Queue
from sqlalchemy import Engine

from gateway.adapters.queueing import event_queue
from gateway.adapters.store import engines
from tests.store.conftest import engine, postgres_store_url, store_url  # noqa: F401  (fixtures)

QUEUE = "transfer-events-test"
ENCRYPTION_KEY = Fernet.generate_key().decode()


@pytest.fixture
def worker_redis_url(redis_url: str) -> str:
    """The run's own Redis database (tests/servers.py leases it), emptied by `connection`."""
    return redis_url


@pytest.fixture
def connection(worker_redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(worker_redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def queue(connection: redis.Redis) -> Queue:
    return event_queue(connection, QUEUE)


@pytest.fixture
def job_env(
    monkeypatch: pytest.MonkeyPatch,
    store_url: str,  # noqa: F811
    engine: Engine,  # noqa: F811  (empties the store first)
) -> Iterator[str]:
    """The environment a worker's jobs read their settings from; yields DATABASE_URL."""
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.setenv("ENCRYPTION_KEY", ENCRYPTION_KEY)
    monkeypatch.setenv("CALLER_HASH_KEY", "worker-test-hash-key")
    monkeypatch.setenv("COORDINATE_DECIMALS", "2")
    yield store_url
    engines.dispose_engines()
