"""Slow clients against the web process: is a signed webhook still answered within 1 s?

Run with `.venv/bin/python bench/bench_slow_clients.py` (Redis must listen on
127.0.0.1:6379; database 12 is flushed before and after). It starts the Procfile's `web`
on a free loopback port (2 workers, a migrated SQLite store in a temporary folder), opens
`--idle` connections that send nothing and `--slow` connections that send a request's
first line and then one byte every 0.5 s (each reopened at once when the server closes
it, as an attacker would), and, while they are all open, sends `--webhooks` signed
webhooks (POST /voice, a new connection each), one every 0.2 s, timing each answer.
`--sync` runs the web command as it was before (gunicorn's sync workers) for comparison.
Figures go to docs/benchmarks.md; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from carrier_sim.load import percentile  # noqa: E402
from gateway.adapters.store.db import create_store_engine  # noqa: E402
from gateway.adapters.store.schema import migrate  # noqa: E402
from gateway.demo import procfile  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/12"
AUTH_TOKEN = "bench-slow-clients-token-0123456789"
ACCOUNT_SID = "AC" + "0" * 32
# The web command before this benchmark's change: gunicorn's default (sync) workers.
SYNC_WEB = (
    "gunicorn --config python:gateway.serving --workers ${WEB_CONCURRENCY:-2} "
    "--bind ${HOST:-0.0.0.0}:${PORT:-8000} --timeout 15 'gateway.app:create_app()'"
)
TRICKLE_S = 0.5
WEBHOOK_EVERY_S = 0.2
WEBHOOK_TIMEOUT_S = 30.0
SYNC_WEBHOOKS = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SlowClients:
    """Idle and trickling connections, kept open from one thread until `stop`."""

    def __init__(self, port: int, idle: int, slow: int) -> None:
        self.port, self.idle, self.slow = port, idle, slow
        self.reopened = 0
        self.idle_closed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowClients:
        self._thread.start()
        time.sleep(1.0)  # all connections open before the first webhook
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _open(self, first: bytes) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        if first:
            sock.sendall(first)
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        first = b"POST /voice HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        watch = selectors.DefaultSelector()
        for _ in range(self.idle):
            watch.register(self._open(b""), selectors.EVENT_READ, "idle")
        slow = {self._open(first) for _ in range(self.slow)}
        for sock in slow:
            watch.register(sock, selectors.EVENT_READ, "slow")
        while not self._stop.wait(TRICKLE_S):
            for sock in list(slow):
                with contextlib.suppress(OSError):  # a closed one is seen by the selector
                    sock.send(b"X")
            for key, _ in watch.select(0):
                self._closed(watch, key, slow, first)
        for key in list(watch.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]

    def _closed(
        self, watch: selectors.BaseSelector, key: selectors.SelectorKey, slow: set, first: bytes
    ) -> None:
        """The server closed (or answered and closed) a connection: count it; reopen a slow one."""
        sock = key.fileobj
        watch.unregister(sock)
        sock.close()  # type: ignore[union-attr]
        if key.data == "idle":
            self.idle_closed += 1
            return
        slow.discard(sock)
        fresh = self._open(first)
        slow.add(fresh)
        watch.register(fresh, selectors.EVENT_READ, "slow")
        self.reopened += 1


def signed_webhook(url: str) -> float:
    form = {"CallSid": "CA" + "3" * 32, "From": "+19135550199", "To": "+19135550150"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{url}/voice", form)
    started = time.perf_counter()
    try:
        answer = requests.post(
            f"{url}/voice",
            data=form,
            headers={"X-Twilio-Signature": signature, "Connection": "close"},
            timeout=WEBHOOK_TIMEOUT_S,
        )
    except requests.Timeout:
        return math.inf  # not answered: Twilio would have given up after 15 s
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"webhook answered {answer.status_code}")
    return elapsed


def start_web(command: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    database_url = f"sqlite:///{workdir / 'store.sqlite3'}"
    engine = create_store_engine(database_url)
    migrate(engine)
    engine.dispose()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": "http://127.0.0.1:1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": database_url,
        "CALLER_HASH_KEY": "bench-slow-clients-hash-key",
    }
    with (workdir / "web.log").open("wb") as log:
        return subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=log, stderr=log
        )


def wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the web process exited")
        try:
            requests.get(f"{url}/healthz", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError("the web process did not answer within 60 s")


def measure(command: str, idle: int, slow: int, webhooks: int) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as folder:
        server = start_web(command, port, Path(folder))
        try:
            wait_until_up(url, server)
            baseline = [signed_webhook(url) for _ in range(5)]
            with SlowClients(port, idle, slow) as clients:
                times = []
                for _ in range(webhooks):
                    times.append(signed_webhook(url))
                    time.sleep(WEBHOOK_EVERY_S)
        finally:
            server.terminate()
            server.wait(30)
    return {
        "quiet_max": max(baseline) * 1000,
        "p50": percentile(times, 50) * 1000,
        "p99": percentile(times, 99) * 1000,
        "max": max(times) * 1000,
        "unanswered": sum(math.isinf(t) for t in times),
        "over_1s": sum(t > 1.0 for t in times),
        "reopened": clients.reopened,
        "idle_closed": clients.idle_closed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=25)
    parser.add_argument("--slow", type=int, default=25)
    parser.add_argument("--webhooks", type=int, default=50)
    parser.add_argument("--sync", action="store_true", help="also measure the sync workers")
    parser.add_argument("--shared", action="store_true", help="say the machine was shared")
    args = parser.parse_args()
    db = redis.Redis.from_url(REDIS_URL)
    db.flushdb()
    # The sync workers take up to --timeout (15 s) per webhook here: a few tell enough.
    runs = [("Procfile `web` (threads, bounded connections)", procfile()["web"], args.webhooks)]
    if args.sync:
        runs.insert(0, ("before: sync workers", SYNC_WEB, SYNC_WEBHOOKS))
    try:
        rows = [(name, n, measure(cmd, args.idle, args.slow, n)) for name, cmd, n in runs]
    finally:
        db.flushdb()
    report = _report(args, rows)
    print(report)
    write_section("slow-clients", "Slow clients against the web process", report)
    return 0


def _report(args: argparse.Namespace, rows: list[tuple[str, int, dict[str, float]]]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    shared = " The machine was shared with other work while it ran." if args.shared else ""
    command = "`.venv/bin/python bench/bench_slow_clients.py"
    command += f" --idle {args.idle} --slow {args.slow} --webhooks {args.webhooks}"
    command += " --sync`" if args.sync else "`"
    lines = [
        f"Measured {when} on {platform.machine()} ({os.cpu_count()} cores), CPython "
        f"{platform.python_version()}, with {command}.{shared} The web process runs with 2 "
        f"workers on 127.0.0.1; {args.idle} connections stay open sending nothing and "
        f"{args.slow} send a request's first line and then one byte every {TRICKLE_S} s "
        f"(reopened at once when closed); meanwhile signed webhooks (POST /voice, a new "
        f"connection each) go out one every {WEBHOOK_EVERY_S} s after the previous answer.",
        "",
        "| web process | webhook max, no slow clients | webhook p50 | p99 | max | over 1 s "
        "| slow connections closed by the server | idle connections closed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, count, r in rows:
        lines.append(
            f"| {name} | {_ms(r['quiet_max'])} | {_ms(r['p50'])} | {_ms(r['p99'])} "
            f"| {_ms(r['max'])} | {int(r['over_1s'])} of {count} "
            f"| {int(r['reopened'])} | {int(r['idle_closed'])} of {args.idle} |"
        )
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"not answered in {WEBHOOK_TIMEOUT_S:.0f} s" if math.isinf(value) else f"{value:.1f} ms"


if __name__ == "__main__":
    sys.exit(main())
