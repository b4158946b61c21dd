"""REDIS_URL's Sentinel form: read by the settings loader, followed by the one client factory."""

from __future__ import annotations

import time

import pytest
import redis

from gateway.adapters.connections import LIVE, redis_client
from gateway.checks import service_problems
from gateway.redis_url import SentinelURL, parse_sentinel_url
from gateway.settings import Settings, SettingsError


def test_a_sentinel_url_names_every_sentinel_the_service_and_the_database() -> None:
    url = "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380,[::1]/gateway-redis/2"
    assert parse_sentinel_url(url) == SentinelURL(
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26379)),
        service="gateway-redis",
        db=2,
    )


def test_a_sentinel_url_without_a_database_uses_database_0_and_keeps_its_password() -> None:
    address = parse_sentinel_url("redis+sentinel://:s%40cret@sentinel-a/gateway-redis")
    assert (address.sentinels, address.db, address.password) == (
        (("sentinel-a", 26379),),
        0,
        "s@cret",
    )
    assert "s@cret" not in repr(address)
    assert address.display() == "redis+sentinel://sentinel-a:26379/gateway-redis/0"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://10.0.0.1:26379", "the service name is missing"),
        ("redis+sentinel://10.0.0.1:26379/", "the service name is missing"),
        ("redis+sentinel://10.0.0.1:26379,/gateway-redis", "a sentinel's host is missing"),
        ("redis+sentinel://10.0.0.1:sentinel/gateway-redis", "port 'sentinel' is not a port"),
        ("redis+sentinel://10.0.0.1:70000/gateway-redis", "port '70000' is not a port"),
        ("redis+sentinel://10.0.0.1/gateway-redis/two", "database 'two' is not a whole number"),
        ("redis+sentinel://10.0.0.1/gateway-redis?ssl=1", "options after '?' are not supported"),
    ],
)
def test_a_bad_sentinel_url_stops_the_gateway_naming_redis_url_and_what_is_wrong(
    url: str, says: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"REDIS_URL": url})
    [problem] = raised.value.problems
    assert problem.startswith("REDIS_URL: ") and says in problem, problem


def test_a_bad_sentinel_url_never_repeats_its_password() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"REDIS_URL": "redis+sentinel://:hunter22@10.0.0.1:x/gateway-redis"})
    assert "hunter22" not in str(raised.value)


def test_a_good_sentinel_url_is_kept_as_given() -> None:
    url = "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/gateway-redis/1"
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url


def test_with_no_sentinel_answering_the_client_gives_up_within_the_live_policy() -> None:
    client = redis_client("redis+sentinel://127.0.0.1:1,127.0.0.1:2/gateway-redis", LIVE)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert time.monotonic() - started < 2 * LIVE.timeout_s


def test_check_reports_an_unreachable_sentinel_primary_without_its_password() -> None:
    url = "redis+sentinel://:hunter22@127.0.0.1:1/gateway-redis/3"
    settings = Settings(redis_url=url, database_url="sqlite://")
    [problem, *_] = service_problems(settings)
    assert str(problem) == (
        "error: redis: redis+sentinel://127.0.0.1:1/gateway-redis/3 unreachable "
        "(MasterNotFoundError)"
    )
