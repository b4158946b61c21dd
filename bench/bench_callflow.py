"""Call-flow benchmark: 100 concurrent simulated calls against the gateway under gunicorn.

Run with `.venv/bin/python bench/bench_callflow.py` (Redis must listen on 127.0.0.1:6379;
it leases a database number no running test suite holds, as the tests do, and empties it
before and after). It starts the real gateway as the Procfile does
(`gunicorn 'gateway.app:create_app()'`, 2 workers) on a free localhost port, pointed at the
carrier simulator's REST API on another localhost port, with no RQ worker running. It
registers one transfer per call through the PSAP API, then plays
`scenarios/load-registered-transfer.yaml` 100 times on the real clock (each call carries
its transfer's id in X-Transfer-Id): the center answers and accepts, the counselor presses
* 9, and the PSAP's escalation line answers. It does that three whole times in a row
(`--runs`) and reports each run's webhook p99, with the full tables for the median run.
From the simulator's own timings it reports webhook response times and errors, the delay
from the caller's inbound webhook to the REST request that rings the center, and from the
counselor's escalation key to the request that rings the PSAP; side by side, the
simulator's own overhead (loop lag, CPU) and the gateway's CPU. Figures go to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import redis
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from carrier_sim.load import DEFAULT_WORKERS, LoadRun, percentile  # noqa: E402
from carrier_sim.scenario import Caller, load_scenario  # noqa: E402
from carrier_sim.simulator import Simulator  # noqa: E402
from gateway.demo import procfile  # noqa: E402
from tests.servers import LOCAL_REDIS, leased_database  # noqa: E402

SCENARIO = ROOT / "scenarios" / "load-registered-transfer.yaml"
AUTH_TOKEN = "bench-callflow-token-0123456789abcdef"
PSAP_KEY = "bench-wyandotte-key-0123456789"
CENTER_PARTIES = {"kc-kansas"}
PSAP_PARTIES = {"psap-escalation"}
WORKERS = 2
RUNS = 3
START_TIMEOUT_S = 30.0
# A caller in Kansas City, KS with a Missouri cell phone: routed to the Kansas City, KS center.
TRANSFER = {
    "callback_number": "+18165550123",
    "location": {"lat": 39.1141, "lon": -94.6275, "radius_m": 50},
    "risk": "mild",
    "call_type": "emotional-distress",
    "consent": True,
    "language": "en",
    "summary": "Caller is overwhelmed after losing a job; no plan to harm self.",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_gunicorn(
    port: int, env: dict[str, str], log: Path, access: Path, workers: int, threads: int
) -> subprocess.Popen[bytes]:
    """The gateway as the Procfile's `web` runs it, on 127.0.0.1:port; the access log
    records each request's path, status and handling time in microseconds."""
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "--config",
        "python:gateway.serving",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "15",
        "--access-logfile",
        str(access),
        "--access-logformat",
        "%(U)s %(s)s %(D)s",
    ]
    if threads > 1:  # the Procfile's threaded worker (gateway/web_worker.py)
        command += ["--worker-class", "gateway.web_worker.BoundedThreadWorker"]
        command += ["--threads", str(threads), "--keep-alive", "2"]
    command.append("gateway.app:create_app()")
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The Procfile's `worker` (rq worker, with its scheduler), as production runs it."""
    command = procfile()["worker"]
    path = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    with log.open("wb") as out:
        return subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=ROOT,
            env={**env, "PATH": path},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll until gunicorn answers HTTP (any status), or fail with its log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text(errors='replace')}")
        try:
            requests.get(f"{url}/api/v1/transfers/none", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer in {START_TIMEOUT_S} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn (and so its workers); kill it if it will not go."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used by a process and its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def gateway_cpu(master: int) -> float:
    """CPU seconds of gunicorn's master and its live workers."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = cpu_seconds(master)
    for child in children:
        try:
            total += cpu_seconds(int(child))
        except OSError:
            continue
    return total


def register(url: str, count: int) -> list[str]:
    """Register `count` eligible transfers as Sample Wyandotte County 911."""
    session = requests.Session()
    ids: list[str] = []
    for _ in range(count):
        response = session.post(
            f"{url}/api/v1/transfers",
            json=TRANSFER,
            headers={"Authorization": f"Bearer {PSAP_KEY}"},
            timeout=10,
        )
        if response.status_code != 201:
            raise RuntimeError(f"registering a transfer: {response.status_code} {response.text}")
        ids.append(str(response.json()["transfer_id"]))
    session.close()
    return ids


@dataclasses.dataclass
class Measured:
    """One benchmark run: the simulator's view, and the gateway's own."""

    run: LoadRun
    gateway_cpu_s: float
    handling_s: dict[str, list[float]]  # gunicorn's handling time per webhook path
    rest_s: list[float]  # the simulator's handling time of the gateway's REST requests
    log_tail: str
    worker_cpu_s: float | None = None  # the RQ worker's CPU seconds, when one ran


def handling_times(access: Path) -> dict[str, list[float]]:
    """Seconds gunicorn spent on each webhook (paths under /voice), by path."""
    times: dict[str, list[float]] = {}
    for line in access.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith("/voice") and parts[2].isdigit():
            times.setdefault(parts[0], []).append(int(parts[2]) / 1e6)
    return times


def play(
    calls: int,
    stagger_s: float,
    workers: int,
    threads: int,
    sim_threads: int,
    sender_process: bool = True,
    with_worker: bool = False,
) -> Measured:
    """Run the whole benchmark (`with_worker`: the RQ worker running beside gunicorn)."""
    with leased_database(LOCAL_REDIS) as redis_url:
        return _play(
            redis_url, calls, stagger_s, workers, threads, sim_threads, sender_process, with_worker
        )


def _play(
    redis_url: str,
    calls: int,
    stagger_s: float,
    workers: int,
    threads: int,
    sim_threads: int,
    sender_process: bool,
    with_worker: bool,
) -> Measured:
    store = redis.Redis.from_url(redis_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-callflow-") as tmp:
        sim = Simulator(base_url=url, auth_token=AUTH_TOKEN, clock="real")
        api = sim.serve_api()
        env = {
            **os.environ,
            "TWILIO_ACCOUNT_SID": sim.account_sid,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE_URL": api,
            "PUBLIC_BASE_URL": url,
            "REDIS_URL": redis_url,
            "PSAP_API_KEYS": f"wyandotte-911:{PSAP_KEY}",
            "ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": f"sqlite:///{tmp}/gateway.sqlite3",
        }
        log, access = Path(tmp) / "gunicorn.log", Path(tmp) / "access.log"
        process = start_gunicorn(port, env, log, access, workers, threads)
        worker = start_worker(env, Path(tmp) / "worker.log") if with_worker else None
        try:
            wait_until_up(url, process, log)
            ids = register(url, calls)

            def own_transfer(i: int, caller: Caller) -> Caller:
                return dataclasses.replace(caller, sip_headers={"X-Transfer-Id": ids[i]})

            cpu_before = gateway_cpu(process.pid)
            worker_before = cpu_seconds(worker.pid) if worker is not None else 0.0
            access.write_text("")  # only the calls' webhooks, not the registrations
            sim.rest_seconds.clear()
            run = sim.run_many(
                load_scenario(SCENARIO),
                calls,
                stagger_s,
                vary=own_transfer,
                workers=sim_threads,
                sender_process=sender_process,
            )
            gateway = gateway_cpu(process.pid) - cpu_before
            worker_cpu = cpu_seconds(worker.pid) - worker_before if worker is not None else None
        finally:
            if worker is not None:
                stop(worker)
            stop(process)
            sim.close()
            store.flushdb()
            store.close()
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
        handled = handling_times(access)
    return Measured(run, gateway, handled, list(sim.rest_seconds), tail, worker_cpu)


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.1f} ms"


def by_path(run: LoadRun) -> dict[str, list[float]]:
    """The simulator's response times per webhook path (query string dropped)."""
    times: dict[str, list[float]] = {}
    for e in run.timeline.entries:
        if e.kind in ("webhook", "callback") and "url" in e.data:
            path = urlsplit(str(e.data["url"])).path
            times.setdefault(path, []).append(float(e.data.get("elapsed", 0.0)))
    return times


def webhook_p99(m: Measured) -> float:
    return percentile(m.run.webhook_seconds(), 99)


def report(
    runs: list[Measured], calls: int, stagger_s: float, workers: int, threads: int, sim_threads: int
) -> str:
    """The benchmark's section of docs/benchmarks.md: every run's webhook p99, and the
    whole table for the median run by that figure (the machine is noisy)."""
    m = sorted(runs, key=webhook_p99)[len(runs) // 2]
    run, gateway_cpu_s = m.run, m.gateway_cpu_s
    hooks = run.webhook_seconds()
    handled = [t for times in m.handling_s.values() for t in times]
    errors = run.webhook_errors()
    rings = run.ring_delays(CENTER_PARTIES)
    escalations = run.key_delays(CENTER_PARTIES, PSAP_PARTIES)
    centered = len(run.connected("kc-kansas"))
    escalated = len(run.connected("psap-escalation"))
    o = run.overhead

    def row(what: str, values: list[float], target: str) -> str:
        return (
            f"| {what} | {len(values)} | {ms(values, 50)} | {ms(values, 99)} | "
            f"{ms(values, 100)} | {target} |"
        )

    def verdict(values: list[float], limit_s: float) -> str:
        return "met" if values and percentile(values, 99) <= limit_s else "**missed**"

    command = ".venv/bin/python bench/bench_callflow.py"
    if (calls, stagger_s) != (100, 0.1):
        command += f" --calls {calls} --stagger {stagger_s:g}"
    if (workers, threads) != (WORKERS, 1):
        command += f" --workers {workers} --threads {threads}"
    if sim_threads != DEFAULT_WORKERS:
        command += f" --sim-threads {sim_threads}"
    if len(runs) != RUNS:
        command += f" --runs {len(runs)}"
    with_worker = m.worker_cpu_s is not None
    if with_worker:
        command += " --with-worker"
    worker_text = (
        "the RQ worker running beside it (the Procfile's `worker`: watchdog jobs, and every "
        "event and transfer record written to a SQLite store)"
        if with_worker
        else "no RQ worker running"
    )
    each = ", ".join(f"{webhook_p99(r) * 1000:.1f} ms" for r in runs)
    met = sum(webhook_p99(r) <= 0.025 for r in runs)
    all_errors = sum(len(r.run.webhook_errors()) for r in runs)
    server = (
        f"{workers} sync workers"
        if threads <= 1
        else f"{workers} bounded-thread workers (the Procfile's) × {threads}"
    )
    paths = by_path(run)
    slowest = sorted(paths, key=lambda p: percentile(paths[p], 99), reverse=True)[:6]
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} "
        f"({os.cpu_count()} cores), {platform.python_implementation()} "
        f"{platform.python_version()}: {calls} calls of `{SCENARIO.relative_to(ROOT)}`, one "
        f"every {stagger_s:g} s (all {calls} up at once from t = {(calls - 1) * stagger_s:.0f} s "
        "until the first hangs up at 30 s), on the simulator's real clock, against "
        f"`gunicorn 'gateway.app:create_app()'` with {server} and Redis on "
        f"127.0.0.1 (a database of its own), {worker_text}; the simulator sends webhooks from "
        f"{sim_threads} threads, through a sending process of its own. Each call had "
        "registered its transfer "
        "through the PSAP API and carries X-Transfer-Id.",
        f"Command: `{command}`.",
        "",
        f"Webhook response p99 in each of {len(runs)} runs, in order: {each} (target ≤ 25 ms "
        f"met in {met} of {len(runs)}); errors in all runs together: {all_errors}. The tables "
        "are the median run's.",
        "",
        "| from the simulator's timings | n | p50 | p99 | max | target |",
        "|---|---|---|---|---|---|",
        row("webhook and status-callback response", hooks, "p99 ≤ 25 ms: " + verdict(hooks, 0.025)),
        row("the same webhooks, handling time as gunicorn logged it", handled, ""),
        row(
            "inbound webhook → REST request ringing the center",
            rings,
            "p99 ≤ 100 ms: " + verdict(rings, 0.1),
        ),
        row(
            "counselor's escalation key → REST request ringing the PSAP",
            escalations,
            "p99 ≤ 1 s: " + verdict(escalations, 1.0),
        ),
        "",
        f"Errors: {len(errors)} (webhooks not answered 2xx, and every error in the timeline). "
        f"Calls connected to the center: {centered}/{calls}; PSAP escalation line joined: "
        f"{escalated}/{calls}.",
        "",
        "Slowest webhook paths at p99 (simulator's view / gunicorn's handling time):",
        "",
        "| path | n | p50 | p99 | gunicorn p50 | gunicorn p99 |",
        "|---|---|---|---|---|---|",
        *(
            f"| `{p}` | {len(paths[p])} | {ms(paths[p], 50)} | {ms(paths[p], 99)} | "
            f"{ms(m.handling_s.get(p, []), 50)} | {ms(m.handling_s.get(p, []), 99)} |"
            for p in slowest
        ),
        "",
        "| side by side, same run | |",
        "|---|---|",
        f"| run wall time | {o.wall_s:.1f} s |",
        f"| gateway (gunicorn master + workers) CPU | {gateway_cpu_s:.1f} s "
        f"({gateway_cpu_s / o.wall_s:.0%} of one core) |",
        *(
            [
                f"| RQ worker CPU | {m.worker_cpu_s:.1f} s ({m.worker_cpu_s / o.wall_s:.0%} "
                "of one core) |"
            ]
            if m.worker_cpu_s is not None
            else []
        ),
        f"| simulator process CPU (loop, REST API, webhook threads) | {o.cpu_s:.1f} s "
        f"({o.cpu_share:.0%} of one core) |",
        f"| webhook sender process CPU (sends and times each webhook) | {o.sender_cpu_s:.1f} s |",
        f"| simulator loop thread CPU | {o.loop_cpu_s:.2f} s |",
        f"| simulator REST API handling ({len(m.rest_s)} requests from the gateway) | "
        f"p50 {ms(m.rest_s, 50)}, p99 {ms(m.rest_s, 99)}, max {ms(m.rest_s, 100)} |",
        f"| simulator loop lag ({len(o.lags_s)} events) | p50 {o.lag_ms(50):.1f} ms, "
        f"p99 {o.lag_ms(99):.1f} ms, max {o.lag_ms(100):.1f} ms |",
        f"| webhooks waiting for a free sending thread in the simulator | "
        f"p50 {ms(o.send_waits_s, 50)}, p99 {ms(o.send_waits_s, 99)}, "
        f"max {ms(o.send_waits_s, 100)} |",
        "",
        "Webhook response time is what the simulator's webhook sender measured for each "
        "answer (connect, queueing in gunicorn's backlog, handling, and the sender's own HTTP "
        "client); the sender is a child process that does nothing else (carrier_sim/sender.py), "
        "so the simulator's REST API and engine do not hold up its clock; gunicorn's "
        "handling time (its access log's %(D)s) leaves out the backlog and the client. "
        "The REST requests a webhook decides on (ringing the center or the PSAP, "
        "announcements, cancels) go out after its answer, from the worker's after-response "
        "threads (gateway/web/afterwards.py), so neither figure includes them; no webhook "
        "makes a REST request while it answers. The ring delay runs from the start of the "
        "caller's "
        "inbound webhook to the simulator receiving the Calls.json request; the escalation "
        "delay from the counselor's last key (the 9 of * 9) to the Calls.json request for the "
        "PSAP's line. Loop lag is how late the simulator ran each scheduled event: it stays "
        "small, so scripted times (and these delays) are not skewed by the load generator.",
    ]
    return "\n".join(lines)


def sender_report(ours: list[Measured], in_process: list[Measured]) -> str:
    """Side by side, run after run: webhooks sent by the sender process, and by the
    simulator's own threads (how the load generator measured before)."""

    def cell(m: Measured) -> str:
        hooks = m.run.webhook_seconds()
        return f"{ms(hooks, 50)} / {ms(hooks, 99)}"

    def handled(m: Measured) -> str:
        times = [t for path in m.handling_s.values() for t in path]
        return f"{ms(times, 50)} / {ms(times, 99)}"

    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, the same benchmark as above, "
        "alternating the two ways of sending webhooks run after run.",
        f"Command: `.venv/bin/python bench/bench_callflow.py --runs {len(ours)} --compare-sender`.",
        "",
        "| run | sender process: webhook p50 / p99 | gunicorn handling p50 / p99 "
        "| simulator's threads: webhook p50 / p99 | gunicorn handling p50 / p99 |",
        "|---|---|---|---|---|",
        *(
            f"| {i + 1} | {cell(a)} | {handled(a)} | {cell(b)} | {handled(b)} |"
            for i, (a, b) in enumerate(zip(ours, in_process, strict=True))
        ),
        "",
        "Gunicorn's handling time is the gateway's side; the sending process takes CPU from "
        "the same 2 cores, which shows there. What the webhook columns differ by beyond it is "
        "the load generator's own delay.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--stagger", type=float, default=0.1, help="seconds between calls")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn workers")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker (gthread when > 1)"
    )
    parser.add_argument(
        "--sim-threads",
        type=int,
        default=DEFAULT_WORKERS,
        help="the simulator's webhook threads (how many webhooks it has in flight at most)",
    )
    parser.add_argument("--runs", type=int, default=RUNS, help="whole runs, one after another")
    parser.add_argument(
        "--compare-sender",
        action="store_true",
        help="after each run, one with webhooks sent from the simulator's own threads",
    )
    parser.add_argument(
        "--with-worker",
        action="store_true",
        help="run the Procfile's RQ worker beside gunicorn, as production does",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    setup = (args.calls, args.stagger, args.workers, args.threads, args.sim_threads)
    runs, in_process = [], []
    for _ in range(max(1, args.runs)):
        runs.append(play(*setup, with_worker=args.with_worker))
        if args.compare_sender:
            in_process.append(play(*setup, sender_process=False))
    if args.compare_sender:
        comparison = sender_report(runs, in_process)
        print(comparison)
        if not args.no_write:
            write_section("callflow-sender", "Load generator: who sends the webhooks", comparison)
        return 0
    text = report(runs, args.calls, args.stagger, args.workers, args.threads, args.sim_threads)
    print(text)
    for measured in runs:
        errors = measured.run.webhook_errors()
        for entry in errors[:10]:
            print(f"error at {entry.t:.3f} s ({entry.party}): {entry.text}", file=sys.stderr)
        if errors:
            print(f"gunicorn log, last lines:\n{measured.log_tail}", file=sys.stderr)
    if not args.no_write:
        if args.with_worker:
            write_section("callflow-worker", "Call flow under load, with the worker running", text)
        else:
            write_section("callflow", "Call flow under load", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
