"""Routing accuracy near county lines: how often the caller's county is right, and honest.

    .venv/bin/python bench/bench_accuracy.py PATH/TO/boundary_points.csv

The CSV (columns lat, lon, county_fips, band_m, group; one point per row at a measured
distance inside its county's line, truth from an independent county layer) is given by path
and never copied into the repository. Each point goes through the router exactly as
`gateway route --batch` sends it (a plain point, no uncertainty), and the script reports,
per distance band:

* right county: the decision's county_fips is the truth;
* wrong, truth not a candidate: wrong, and the true county is not in county_candidates
  either (the decision was wrong *and* claimed a certainty it did not have);
* more than one candidate / ambiguous: how often the layer's tolerance spoke up.

It rewrites the "accuracy" section of docs/benchmarks.md with the command that produced it.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import write_section  # noqa: E402
from routing.engine import Router  # noqa: E402
from routing.location import LocationQuery, Point  # noqa: E402
from routing.tables import DEFAULT_TABLES_DIR  # noqa: E402

TARGETS = {
    50: (97.0, 0.5),
    200: (99.3, 0.1),
    500: (99.8, 0.1),
    1000: (99.9, 0.1),
    2000: (100.0, 0.1),
}


@dataclass
class Tally:
    """Counts for one band (or one band of one group)."""

    points: int = 0
    right: int = 0
    unflagged_wrong: int = 0
    several: int = 0
    ambiguous: int = 0
    wrong_fips: Counter[str] = field(default_factory=Counter)

    def pct(self, count: int) -> float:
        return 100.0 * count / self.points if self.points else 0.0


def score(router: Router, rows: Iterable[dict[str, str]]) -> dict[tuple[str, int], Tally]:
    """Tallies by (group, band); group "all" holds every point."""
    tallies: dict[tuple[str, int], Tally] = {}
    for row in rows:
        decision = router.route(LocationQuery(geo=Point(float(row["lat"]), float(row["lon"]))))
        band, truth = int(row["band_m"]), row["county_fips"]
        right = decision.county_fips == truth
        # getattr: the same script also scores an older checkout, which has no candidates.
        candidates = getattr(decision, "county_candidates", ())
        for group in ("all", row.get("group") or "?"):
            tally = tallies.setdefault((group, band), Tally())
            tally.points += 1
            tally.right += right
            tally.unflagged_wrong += not right and truth not in candidates
            tally.several += len(candidates) > 1
            tally.ambiguous += decision.ambiguous
            if not right:
                tally.wrong_fips[truth] += 1
    return tallies


def table(tallies: dict[tuple[str, int], Tally]) -> list[str]:
    bands = sorted({band for group, band in tallies if group == "all"})
    lines = [
        "| distance inside the county line | " + " | ".join(f"{b:,} m" for b in bands) + " |",
        "|---|" + "---|" * len(bands),
    ]

    def row(label: str, cell: Callable[[Tally, int], str]) -> str:
        return f"| {label} | " + " | ".join(cell(tallies[("all", b)], b) for b in bands) + " |"

    lines += [
        row("points", lambda t, b: f"{t.points:,}"),
        row(
            "**right county**",
            lambda t, b: f"**{t.pct(t.right):.2f} %** ({t.points - t.right} wrong)",
        ),
        row("target", lambda t, b: f"≥ {TARGETS.get(b, (0, 0))[0]} %"),
        row(
            "**wrong, truth not among county_candidates**",
            lambda t, b: f"**{t.pct(t.unflagged_wrong):.2f} %** ({t.unflagged_wrong})",
        ),
        row("target", lambda t, b: f"≤ {TARGETS.get(b, (0, 0))[1]} %"),
        row("more than one county_candidate", lambda t, b: f"{t.pct(t.several):.1f} %"),
        row(
            "ambiguous (candidate counties' centers differ)",
            lambda t, b: f"{t.pct(t.ambiguous):.1f} %",
        ),
    ]
    for group in sorted({g for g, _ in tallies if g not in ("all", "?")}):
        cells = [_right_of(tallies.get((group, b))) for b in bands]
        lines.append(f"| right county, `{group}` points | " + " | ".join(cells) + " |")
    return lines


def _right_of(tally: Tally | None) -> str:
    return "–" if tally is None else f"{tally.pct(tally.right):.1f} % of {tally.points}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="boundary check points (kept out of the repo)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    router = Router.from_files(DEFAULT_TABLES_DIR)
    with args.csv.open(newline="", encoding="utf-8") as handle:
        tallies = score(router, csv.DictReader(handle))
    layer = router.snapshot.layer
    wrong = sum((t.wrong_fips for (g, _), t in tallies.items() if g == "all"), Counter[str]())
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on the shipped layer "
        f"({len(layer)} counties; {layer.metadata.get('resolution', '?')}; tolerance "
        f"{getattr(layer, 'tolerance_m', 0):.0f} m) against `{args.csv.name}`.",
        f"Command: `.venv/bin/python bench/bench_accuracy.py {args.csv.name}` "
        "(the CSV is given by path; it is not in the repository).",
        "",
        *table(tallies),
        "",
        "Counties with the most wrong points: "
        + ", ".join(f"{fips} ({n})" for fips, n in wrong.most_common(8))
        + ".",
    ]
    report = "\n".join(lines)
    print(report)
    if not args.no_write:
        write_section("accuracy", "Routing accuracy near county lines", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
