"""`make run` needs nothing installed beyond the README's commands, not even a Redis."""

from __future__ import annotations

import redis

from gateway.demo import demo_redis
from gateway.settings import Settings


def test_the_demo_starts_a_private_redis_when_none_is_reachable() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    with demo_redis(settings) as url:
        assert url != settings.redis_url
        assert redis.Redis.from_url(url).ping()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        stopped = False
    except redis.ConnectionError:
        stopped = True
    assert stopped, "the private redis-server is stopped after the demo"


def test_the_demo_uses_a_reachable_redis_as_it_is(redis_url: str) -> None:
    with demo_redis(Settings(redis_url=redis_url)) as url:
        assert url == redis_url
