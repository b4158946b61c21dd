"""Routing core benchmark: our index against a linear scan of the same polygons, side by side.

Run with `make bench` (or `.venv/bin/python bench/bench_routing.py`). It writes its figures
into docs/benchmarks.md between the routing markers, with the command and the machine.

Measured, in one process and one run, so that machine noise hits both sides alike:
* one decision (county + center, no explanation): our grid index vs. a linear scan;
* a batch of points: vectorised index vs. a vectorised linear scan;
* a full decision with a 1 km uncertainty circle that crosses a county boundary;
* cold start in fresh processes: the routing core alone, `gateway route` as an operator runs
  it, and the web app as gunicorn builds it: wall time (min/median/max) and peak memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from routing.engine import Router, Snapshot  # noqa: E402
from routing.location import LocationQuery, Point  # noqa: E402
from routing.tables import DEFAULT_TABLES_DIR  # noqa: E402


def land_points(snap: Snapshot, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random points over the lower 48 that fall in some county (callers are on land)."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    while sum(len(x) for x in xs) < count:
        x = rng.uniform(-125.0, -66.5, count)
        y = rng.uniform(24.5, 49.5, count)
        keep = snap.index.locate_many(x, y) >= 0
        xs.append(x[keep])
        ys.append(y[keep])
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def per_call_us(fn, xs: np.ndarray, ys: np.ndarray) -> list[float]:  # type: ignore[no-untyped-def]
    timer = time.perf_counter_ns
    out = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        start = timer()
        fn(x, y)
        out.append((timer() - start) / 1000.0)
    return out


def linear_scan(snap: Snapshot):  # type: ignore[no-untyped-def]
    """The naive way: every polygon in FIPS order, bounding box first, then the exact test."""
    geoms = list(snap.index.geometries)
    bounds = [g.bounds for g in geoms]
    centers = snap.county_center

    def center_at(lon: float, lat: float) -> str | None:
        for i, (minx, miny, maxx, maxy) in enumerate(bounds):
            if (
                minx <= lon <= maxx
                and miny <= lat <= maxy
                and shapely.intersects_xy(geoms[i], lon, lat)
            ):
                return centers[i]
        return None

    return center_at


def linear_scan_batch(snap: Snapshot, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The naive vectorised way: each polygon tested against every point."""
    out = np.full(len(xs), -1)
    for i, geom in enumerate(snap.index.geometries):
        hit = shapely.intersects_xy(geom, xs, ys) & (out < 0)
        out[hit] = i
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


# Peak memory from VmHWM, not getrusage: Linux carries ru_maxrss across exec, so a child of
# this (large) benchmark process would report the parent's peak. Each snippet runs in a fresh
# interpreter and prints its own peak; wall time is measured from here, interpreter included.
_PEAK = (
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1];"
    "import sys; print(int(hwm) / 1024, file=sys.stderr)"
)
COLD_STARTS = {
    "routing core: imports, layer, index, tables": (
        "from routing.engine import Router; from routing.tables import DEFAULT_TABLES_DIR;"
        "Router.from_files(DEFAULT_TABLES_DIR);"
    ),
    "`gateway route --lat 39.11 --lon -94.63 --json`": (
        "from gateway.cli import main;"
        "main(['route', '--lat', '39.11', '--lon', '-94.63', '--json']);"
    ),
    "web process: `gateway.app:create_app()` as gunicorn loads it": (
        "from gateway.app import create_app; create_app();"
    ),
}
COLD_TARGETS = {
    "routing core: imports, layer, index, tables": "",
    "`gateway route --lat 39.11 --lon -94.63 --json`": "≤ 3.0 s, ≤ 250 MB",
    "web process: `gateway.app:create_app()` as gunicorn loads it": "≤ 2 s",
}


def cold_start(code: str, root: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak MB) of `code` in a fresh process running the code under `root`."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code + _PEAK],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start, float(done.stderr.split()[-1])


def cold_start_rows(runs: int, baseline: Path | None) -> list[str]:
    """One table row per cold start; with a baseline checkout, its runs alternate with ours,
    so a busy machine slows both alike."""
    with tempfile.TemporaryDirectory() as tmp:
        # The web app's defaults, with its SQLite file somewhere harmless and the Twilio
        # settings it refuses to start without (fictional: nothing is called).
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "TWILIO_AUTH_TOKEN": "bench-token-not-a-secret",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        }
        rows = []
        for what, code in COLD_STARTS.items():
            ours, theirs = [], []
            for _ in range(runs):
                ours.append(cold_start(code, ROOT, env))
                if baseline is not None:
                    theirs.append(cold_start(code, baseline, env))
            rows.append(
                f"| cold start, {what} ({runs} runs) | {_spread(ours)} | "
                f"{_spread(theirs) if theirs else ''} | {COLD_TARGETS[what]} |"
            )
    return rows


def _spread(starts: list[tuple[float, float]]) -> str:
    walls = [w for w, _ in starts]
    return (
        f"min {min(walls):.2f} s, median {statistics.median(walls):.2f} s, max "
        f"{max(walls):.2f} s; peak {max(m for _, m in starts):.0f} MB"
    )


def boundary_points(snap: Snapshot, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of Kansas and Missouri county boundaries: 1 km circles there cross a border."""
    coords = np.concatenate(
        [
            shapely.get_coordinates(snap.index.geometries[i])
            for i, c in enumerate(snap.layer.counties)
            if c.state in ("KS", "MO")
        ]
    )
    pick = np.random.default_rng(7).choice(len(coords), count, replace=False)
    return coords[pick, 0], coords[pick, 1]


def _command() -> str:
    """How this run was started (a --note's text is printed on its own line instead)."""
    previous = ["", *sys.argv[:-1]]
    args = ["NOTE" if p == "--note" else a for p, a in zip(previous, sys.argv, strict=True)]
    args = ["BASELINE" if p == "--baseline" else a for p, a in zip(previous, args, strict=True)]
    if len(args) == 1:
        return "`make bench` (= `.venv/bin/python bench/bench_routing.py`)"
    return f"`.venv/bin/python bench/bench_routing.py {shlex.join(args[1:])}`"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000, help="single-decision samples")
    parser.add_argument("--batch", type=int, default=1_000_000, help="points in the batch run")
    parser.add_argument("--cold-runs", type=int, default=7, help="fresh processes per cold start")
    parser.add_argument(
        "--baseline", type=Path, help="an older checkout whose cold starts to time alongside"
    )
    parser.add_argument("--note", default="", help="conditions, e.g. shared machine")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    router = Router.from_files(DEFAULT_TABLES_DIR)
    snap = router.snapshot
    xs, ys = land_points(snap, args.points, seed=1)

    ours = per_call_us(snap.center_at, xs, ys)
    naive_fn = linear_scan(snap)
    naive = per_call_us(naive_fn, xs[:2000], ys[:2000])
    mismatches = sum(
        snap.center_at(x, y)[2] != naive_fn(x, y) for x, y in zip(xs[:2000], ys[:2000], strict=True)
    )

    bx, by = land_points(snap, args.batch, seed=2)
    start = time.perf_counter()
    snap.centers_many(bx, by)
    batch_rate = len(bx) / (time.perf_counter() - start)
    small = 50_000
    start = time.perf_counter()
    naive_batch = linear_scan_batch(snap, bx[:small], by[:small])
    naive_rate = small / (time.perf_counter() - start)
    batch_ok = bool((snap.index.locate_many(bx[:small], by[:small]) == naive_batch).all())

    cx, cy = boundary_points(snap, 500)
    at = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    circle_us = per_call_us(
        lambda x, y: router.route(LocationQuery(geo=Point(y, x, 1000.0), at=at)), cx, cy
    )
    ambiguous = sum(
        router.route(LocationQuery(geo=Point(y, x, 1000.0), at=at)).method == "shape"
        for x, y in zip(cx[:100], cy[:100], strict=True)
    )
    starts = cold_start_rows(args.cold_runs, args.baseline)

    speedup = statistics.median(naive) / statistics.median(ours)
    batch_speedup = batch_rate / naive_rate
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{len(snap.layer)} counties + {len(snap.overlays)} overlay(s).",
        f"Command: {_command()}.",
        *([args.note] if args.note else []),
        *(
            [f"BASELINE: `{args.baseline}`, timed in turn with ours for each cold start."]
            if args.baseline
            else []
        ),
        "",
        "| what | ours | linear scan (cold starts: the baseline checkout, if given) | target |",
        "|---|---|---|---|",
        f"| one decision, median | {statistics.median(ours):.2f} µs | "
        f"{statistics.median(naive):.1f} µs ({speedup:.0f}× slower) | ≤ 10 µs, ≥ 20× |",
        f"| one decision, p99 | {pct(ours, 99):.2f} µs | {pct(naive, 99):.1f} µs | ≤ 50 µs |",
        f"| batch, one core | {batch_rate:,.0f} points/s | {naive_rate:,.0f} points/s "
        f"({batch_speedup:.0f}× slower) | ≥ 200,000/s, ≥ 20× |",
        f"| 1 km circle across a boundary, full decision, median | "
        f"{statistics.median(circle_us) / 1000:.3f} ms (p99 {pct(circle_us, 99) / 1000:.3f} ms; "
        f"{ambiguous}/100 crossed centers) | | ≤ 1 ms |",
        *starts,
        "",
        f"Samples: {len(ours):,} single decisions at uniform random points on land in the lower 48 "
        f"({len(naive):,} for the linear scan); batch {len(bx):,} points "
        f"({small:,} for the linear scan). Answers compared: {mismatches} single-decision "
        f"mismatches, batch {'identical' if batch_ok else 'DIFFERENT'}.",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("routing", "Routing core", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
