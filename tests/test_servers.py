"""The test harness reaches real servers, or starts private ones when none is reachable."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
import redis

from tests import servers
from tests.servers import (
    leased_database,
    postgres_reachable,
    postgres_server,
    redis_reachable,
    redis_server,
    with_db,
)


def test_redis_fixture_is_a_real_server_that_stores_and_returns_a_value(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("harness:probe", "1", ex=10)
    assert client.get("harness:probe") == b"1"


def test_postgres_fixture_is_a_real_server_that_runs_sql(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert conn.execute("select 40 + 2").fetchone() == (42,)


def test_a_private_redis_starts_when_no_server_is_reachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(servers, "LOCAL_REDIS", "redis://127.0.0.1:1/0")  # nothing on port 1
    with redis_server(tmp_path) as url:
        assert url != "redis://127.0.0.1:1/0"
        assert redis_reachable(url)
    assert not redis_reachable(url)  # and it is stopped afterwards


def test_a_private_postgres_starts_when_no_server_is_reachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(servers, "LOCAL_POSTGRES", "postgresql://postgres@127.0.0.1:1/test")
    with postgres_server(tmp_path) as url:
        assert url != servers.LOCAL_POSTGRES
        assert postgres_reachable(url)
    assert not postgres_reachable(url)


def test_two_runs_on_one_redis_lease_different_databases_and_give_them_back(
    redis_url: str,
) -> None:
    with leased_database(redis_url) as first, leased_database(redis_url) as second:
        assert first != second
        assert not first.endswith("/0") and not second.endswith("/0")
    admin = redis.Redis.from_url(with_db(redis_url, 0))
    for url in (first, second):
        holder = admin.get(f"gateway-tests:lease:{url.rsplit('/', 1)[1]}") or b""
        assert not holder.startswith(f"{os.getpid()}-".encode())  # ours is given back
    admin.close()
