"""Published table versions under load: how fast every process switches, and what it costs.

Runs gunicorn (`gateway.app:create_app()`, 2 workers, the Procfile's serving hooks) on a
SQLite store and a Redis database of the local server, then measures:

* cold start: process start to the first routing answer, on an empty store (which imports
  ROUTING_TABLES as the first version) and again with the active version already stored;
* publish to switched: from a publish's commit until 20 answers in a row, each on a new
  connection, carry the new version's id;
* answer time of POST /api/v1/route (a routing decision through the web process, as the
  webhooks make them) from 4 client threads, without publishes and then while a new
  version (a center renamed) is published every second.

Writes its section of docs/benchmarks.md with the command and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from gateway.adapters.store.db import create_store_engine  # noqa: E402
from gateway.tables.service import TableVersions  # noqa: E402
from routing.counties import load_layer  # noqa: E402
from routing.tables import DEFAULT_TABLES_DIR, read_table_files  # noqa: E402

PSAP_KEY = "bench-psap-key-0123456789abcdef"
PORT = 18_911


def start(folder: Path, redis_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{folder / 'store.sqlite3'}",
        "ROUTING_TABLES": str(DEFAULT_TABLES_DIR),
        "REDIS_URL": redis_url,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "PSAP_API_KEYS": f"wyandotte-911:{PSAP_KEY}",
        "PYTHONPATH": str(ROOT),
    }
    command = [str(Path(sys.executable).with_name("gunicorn")), "--config"]
    command += ["python:gateway.serving", "--workers", "2", "--bind", f"127.0.0.1:{PORT}"]
    command += ["gateway.app:create_app()"]
    return subprocess.Popen(command, cwd=folder, env=env, stderr=subprocess.DEVNULL)


def answer() -> tuple[str | None, float]:
    begun = time.perf_counter()
    try:
        reply = requests.post(
            f"http://127.0.0.1:{PORT}/api/v1/route",
            json={"zip": "66101"},
            headers={"Authorization": f"Bearer {PSAP_KEY}"},
            timeout=10,
        )
    except (requests.ConnectionError, requests.Timeout):
        return None, time.perf_counter() - begun
    return reply.json()["tables_version"], time.perf_counter() - begun


def cold_start(folder: Path, redis_url: str) -> tuple[subprocess.Popen[bytes], float]:
    begun = time.perf_counter()
    server = start(folder, redis_url)
    while answer()[0] is None:
        time.sleep(0.05)
    return server, time.perf_counter() - begun


def switched_after(version: str) -> float:
    begun, streak = time.perf_counter(), 0
    while streak < 20:
        streak = streak + 1 if answer()[0] == version else 0
    return time.perf_counter() - begun


def variant(n: int) -> dict[str, bytes]:
    """The sample tables with one center renamed: a new version each `n`."""
    files = read_table_files(DEFAULT_TABLES_DIR)
    name = f"Bench KC Kansas {n}".encode()
    files["centers.yaml"] = files["centers.yaml"].replace(b"Sample KC Kansas", name)
    return files


def load(seconds: float, versions: TableVersions | None) -> list[float]:
    """Answer times from 4 threads for `seconds`; with `versions`, publish a new one each second."""
    times: list[float] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            times.append(answer()[1])

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    end, turn = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        time.sleep(1)
        if versions is not None:
            turn += 1
            versions.publish(variant(1000 + turn), "bench", "a new version every second")
    stop.set()
    for t in threads:
        t.join()
    return times


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--switches", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="bench-tables-"))
    server, first_start = cold_start(folder, args.redis_url)
    engine = create_store_engine(f"sqlite:///{folder / 'store.sqlite3'}")
    versions = TableVersions(engine, load_layer())
    try:
        switches = []
        for turn in range(args.switches):
            target = versions.publish(variant(turn), "bench", "measure the switch")
            switches.append(switched_after(target))
        quiet = load(args.seconds, None)
        busy = load(args.seconds, versions)
        server.terminate()
        server.wait()
        server, warm_start = cold_start(folder, args.redis_url)
    finally:
        server.terminate()
        server.wait()
        engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    report = "\n".join(
        [
            f"Command: `.venv/bin/python bench/bench_tables.py --seconds {args.seconds:g} "
            f"--switches {args.switches}`",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; shared with other work while it ran (load average "
            f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end), so the "
            "figures are an upper bound.",
            "",
            "| measure | figure |",
            "|---|---|",
            f"| cold start, empty store (imports ROUTING_TABLES) | {first_start:.1f} s |",
            f"| cold start with the active version stored | {warm_start:.1f} s |",
            f"| publish to every worker switched (median, max of {len(switches)}) "
            f"| {statistics.median(switches):.2f} s, {max(switches):.2f} s |",
            f"| POST /api/v1/route p50 / p99, no publishes ({len(quiet)} requests) "
            f"| {p(quiet, 0.5):.1f} / {p(quiet, 0.99):.1f} ms |",
            f"| POST /api/v1/route p50 / p99, a new version published every second "
            f"({len(busy)} requests) "
            f"| {p(busy, 0.5):.1f} / {p(busy, 0.99):.1f} ms |",
            "",
            "Switch time is the time from the commit until 20 answers in a row (each on a new "
            "connection, so both workers) carry the new id; the follower reads the active id "
            "every 2 s. The answer times are for the routing API, not the voice webhooks: "
            "the webhooks route through the same Router and snapshot swap. While versions are "
            "published, each web process loads every new version in a background thread, and "
            "this script validates and stores each one, all on the same cores as the clients: "
            "the p99 difference is that CPU.",
        ]
    )
    print(report)
    if not args.no_write:
        write_section("tables", "Published table versions", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
