"""`make run` needs nothing installed beyond the README's commands, not even a Redis."""

from __future__ import annotations

import pytest
import redis

from gateway.demo import demo_redis


def test_the_demo_starts_a_private_redis_when_none_is_configured() -> None:
    with demo_redis(None) as url:
        assert redis.Redis.from_url(url).ping()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        stopped = False
    except redis.ConnectionError:
        stopped = True
    assert stopped, "the private redis-server is stopped after the demo"


def test_the_demo_uses_the_configured_redis_as_it_is(redis_url: str) -> None:
    with demo_redis(redis_url) as url:
        assert url == redis_url


def test_a_configured_redis_that_does_not_answer_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="no Redis answers"), demo_redis("redis://127.0.0.1:1/0"):
        pass
