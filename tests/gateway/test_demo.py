"""`make run` needs nothing installed beyond the README's commands, not even a Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from gateway.demo import demo_redis

ROOT = Path(__file__).resolve().parents[2]


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


def test_make_run_plays_the_kansas_city_transfer_with_a_rollover_and_a_bounce_back() -> None:
    """The README's `make run`, as CI's machine runs it: the gateway's real processes, the
    simulator, a private Redis, the Kansas caller with a Missouri number."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "gateway"), "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "The gateway never dropped the caller." in out
    assert (
        "Wyandotte County, KS (point ±50 m) → Sample KC Kansas Crisis Line; by area code 816 "
        "this call would have gone to Sample KC Missouri Crisis Center"
    ) in out
    assert "kc-kansas: no-answer" in out  # the Kansas center chosen, then rolled over
    assert "rollover" in out and "escalation_answered" in out
    assert "outcome: connected_after_rollover; connected to ks-statewide" in out
    assert "PSAP answered True" in out
