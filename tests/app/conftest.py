"""Fixtures for the gateway app: the sample routing tables, a real Redis, a harness."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from carrier_sim.simulator import Simulator
from gateway.adapters.connections import redis_client
from gateway.app import simulator_app
from gateway.settings import DEFAULT_TABLES_DIR
from routing.engine import Router
from tests.app.harness import AUTH_TOKEN, WYANDOTTE_KEY, Harness


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


@pytest.fixture
def simulated_gateway(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, gateway_redis: redis.Redis
) -> Simulator:
    """A simulator playing against `simulator_app`, the gateway `gateway simulate` builds
    from the environment (here: the session's Redis and the Wyandotte PSAP's key)."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("PSAP_API_KEYS", f"wyandotte-911:{WYANDOTTE_KEY}")
    monkeypatch.setenv("GATEWAY_PHONE_NUMBER", "+19135550150")
    holder: dict[str, Any] = {}
    sim = Simulator(app=lambda env, start: holder["app"](env, start), auth_token=AUTH_TOKEN)
    holder["app"] = simulator_app(sim)
    return sim
