"""Fixtures for the gateway app: the sample routing tables, a real Redis, a harness."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from gateway.adapters.connections import redis_client
from gateway.settings import DEFAULT_TABLES_DIR
from routing.engine import Router
from tests.app.harness import Harness


@pytest.fixture(scope="session")
def router() -> Router:
    return Router.from_files(DEFAULT_TABLES_DIR)


@pytest.fixture
def gateway_redis(redis_url: str) -> Iterator[redis.Redis]:
    """The session's real Redis, with the gateway's keys cleared before and after a test.

    Only the gateway's own keys (g988:*) are removed, never the whole database.
    """
    client = redis_client(redis_url)
    _clear(client)
    yield client
    _clear(client)
    client.close()


def _clear(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match="g988:*", count=500))
    if keys:
        client.delete(*keys)


@pytest.fixture
def harness(router: Router, gateway_redis: redis.Redis) -> Iterator[Harness]:
    built = Harness(router, gateway_redis)
    yield built
    built.close()
