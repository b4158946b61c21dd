"""Carrier simulator benchmark: wall time of a replayed call beyond the application's own.

Run with `.venv/bin/python bench/bench_simulator.py` (or `make bench`). It replays the
happy-path warm transfer on the virtual clock many times against an in-process application
and splits each run's wall time into the application's handling of webhooks and status
callbacks (as the simulator timed each request) and everything else: the simulator's own
overhead, which the issue bounds at 50 ms. Figures go to docs/benchmarks.md.

The application is the reference warm-transfer app of the simulator's tests
(tests/sim/apps.py) until the gateway's own call flow is in place.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from gateway.sim.scenario import load_scenario  # noqa: E402
from gateway.sim.simulator import Simulator  # noqa: E402
from tests.sim.apps import AUTH_TOKEN, Seen, warm_transfer_app  # noqa: E402

SCENARIO = ROOT / "scenarios" / "sim-happy-path.yaml"


def replay_once() -> tuple[float, float, float]:
    """One replay: (wall seconds, application seconds, simulated call seconds)."""
    holder: dict[str, object] = {}
    sim = Simulator(
        app=warm_transfer_app(lambda: holder["client"], Seen()),  # type: ignore[arg-type,return-value]
        auth_token=AUTH_TOKEN,
    )
    holder["client"] = sim.twilio_client()
    scenario = load_scenario(SCENARIO)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    replay_once()  # warm-up: imports and first-request costs are not the simulator's
    runs = [replay_once() for _ in range(args.runs)]
    walls = [w * 1000 for w, _, _ in runs]
    apps = [a * 1000 for _, a, _ in runs]
    overheads = [w - a for w, a in zip(walls, apps, strict=True)]
    simulated = runs[0][2]
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, {args.runs} runs "
        f"of `{SCENARIO.relative_to(ROOT)}` ({simulated:.0f} s of simulated call) on the "
        "virtual clock, against the simulator's reference warm-transfer app.",
        "Command: `.venv/bin/python bench/bench_simulator.py`.",
        "",
        "| per replay | median | p90 | target |",
        "|---|---|---|---|",
        f"| wall time | {statistics.median(walls):.1f} ms | "
        f"{statistics.quantiles(walls, n=10)[-1]:.1f} ms | |",
        f"| of which the application's handling | {statistics.median(apps):.1f} ms | "
        f"{statistics.quantiles(apps, n=10)[-1]:.1f} ms | |",
        f"| simulator overhead (wall − application) | {statistics.median(overheads):.1f} ms | "
        f"{statistics.quantiles(overheads, n=10)[-1]:.1f} ms | ≤ 50 ms |",
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
