"""Carrier simulator benchmark: wall time of a replayed call beyond the application's own.

Run with `.venv/bin/python bench/bench_simulator.py` (or `make bench`). It replays the
happy-path warm transfer on the virtual clock many times against an in-process application
and splits each run's wall time into the application's handling of webhooks and status
callbacks (as the simulator timed each request) and everything else: the simulator's own
overhead, which the issue bounds at 50 ms. Figures go to docs/benchmarks.md.

The application is the gateway itself (create_app, with the sample tables, a real Redis
from $REDIS_URL, or a database of the local server leased as the test suites lease theirs,
emptied before and after) playing
scenarios/gateway-happy-path.yaml. Side by side in the same run, the simulator's reference
warm-transfer app (tests/carrier_sim/apps.py), a much thinner application.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from carrier_sim.scenario import Scenario, load_scenario  # noqa: E402
from carrier_sim.simulator import Simulator  # noqa: E402
from gateway.adapters.records import MemoryRecorder  # noqa: E402
from gateway.app import create_app, redis_client  # noqa: E402
from gateway.domain.events import MemorySink  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from routing.engine import Router  # noqa: E402
from routing.tables import DEFAULT_TABLES_DIR  # noqa: E402
from tests.carrier_sim.apps import AUTH_TOKEN, Seen, warm_transfer_app  # noqa: E402
from tests.servers import redis_server  # noqa: E402

GATEWAY_SCENARIO = ROOT / "scenarios" / "gateway-happy-path.yaml"
TOY_SCENARIO = ROOT / "scenarios" / "sim-happy-path.yaml"


def gateway_sim(router: Router, redis_url: str) -> Simulator:
    """The gateway wired to an in-process simulator, as tests/app/harness.py does."""
    holder: dict[str, Any] = {}
    sim = Simulator(app=lambda env, start: holder["app"](env, start), auth_token=AUTH_TOKEN)
    settings = Settings(
        twilio_account_sid=sim.account_sid,
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=sim.app_url,
        redis_url=redis_url,
        after_response_threads=0,  # in process: done before the virtual clock moves on
    )
    holder["app"] = create_app(
        settings,
        router=router,
        twilio_client=sim.twilio_client(),
        event_sink=MemorySink(),
        recorder=MemoryRecorder(settings),
        redis=redis_client(redis_url),
        clock=lambda: sim.engine.config.epoch + timedelta(seconds=sim.engine.now()),
    )
    return sim


def toy_sim() -> Simulator:
    holder: dict[str, Any] = {}
    sim = Simulator(app=warm_transfer_app(lambda: holder["client"], Seen()), auth_token=AUTH_TOKEN)
    holder["client"] = sim.twilio_client()
    return sim


def replay_once(sim: Simulator, scenario: Scenario) -> tuple[float, float, float]:
    """One replay: (wall seconds, application seconds, simulated call seconds)."""
    start = time.perf_counter()
    timeline = sim.run(scenario)
    wall = time.perf_counter() - start
    sim.close()
    app = sum(
        float(e.data.get("elapsed", 0.0))
        for e in timeline.entries
        if e.kind in ("webhook", "callback")
    )
    return wall, app, timeline.entries[-1].t


def measure(make: Any, path: Path, runs: int) -> dict[str, Any]:
    """Replay `path` `runs` times, each on a fresh simulator from `make()`."""
    scenario = load_scenario(path)
    results = []
    for i in range(runs + 1):
        sim = make()
        result = replay_once(sim, scenario)
        sim.close()
        if i:  # the first run is a warm-up: imports and first requests are not the simulator's
            results.append(result)
    walls = [w * 1000 for w, _, _ in results]
    apps = [a * 1000 for _, a, _ in results]
    return {
        "walls": walls,
        "apps": apps,
        "overheads": [w - a for w, a in zip(walls, apps, strict=True)],
        "simulated": results[0][2],
    }


def rows(label: str, figures: dict[str, Any]) -> list[str]:
    def cell(values: list[float]) -> str:
        return (
            f"{statistics.median(values):.1f} ms | {statistics.quantiles(values, n=10)[-1]:.1f} ms"
        )

    return [
        f"| {label}: wall time | {cell(figures['walls'])} | |",
        f"| {label}: the application's handling | {cell(figures['apps'])} | |",
        f"| {label}: **simulator overhead** (wall − application) | "
        f"{cell(figures['overheads'])} | ≤ 50 ms |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs: at least 2 (a p90 needs two figures)")
    # Never a fixed database number: a test suite may hold it on the shared server.
    with redis_server(Path(tempfile.mkdtemp())) as redis_url:
        connection = redis.Redis.from_url(redis_url)
        connection.flushdb()
        try:
            router = Router.from_files(DEFAULT_TABLES_DIR)
            gateway = measure(lambda: gateway_sim(router, redis_url), GATEWAY_SCENARIO, args.runs)
            toy = measure(toy_sim, TOY_SCENARIO, args.runs)
        finally:
            connection.flushdb()
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, {args.runs} replays "
        f"each on the virtual clock: `{GATEWAY_SCENARIO.relative_to(ROOT)}` "
        f"({gateway['simulated']:.0f} s of simulated call) against the gateway (in process, "
        f"real Redis), and `{TOY_SCENARIO.relative_to(ROOT)}` "
        f"({toy['simulated']:.0f} s) against the simulator's reference app.",
        f"Command: `{' '.join(['.venv/bin/python bench/bench_simulator.py', *sys.argv[1:]])}`.",
        "",
        "| per replay | median | p90 | target |",
        "|---|---|---|---|",
        *rows("gateway happy path", gateway),
        *rows("reference app", toy),
        "",
        "The application's handling includes the REST requests it makes to the simulator while "
        "it handles a webhook (they block it, as they would against Twilio).",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("simulator", "Carrier simulator", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
