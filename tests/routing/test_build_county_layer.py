"""The conversion that makes the shipped county layer: names, reconciliation, the compact file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
from shapely.geometry import Polygon, box

from routing import compact
from routing.counties import load_layer
from routing.index import CountyIndex, build_grid

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_county_layer.py"


def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_county_layer", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_counties_are_named_as_census_names_them() -> None:
    name = build_script().county_name
    assert name("Cleburne", "County", "01029") == "Cleburne County"
    assert name("St. Louis", "City", "29510") == "St. Louis city"
    assert name("Baltimore", "City", "24510") == "Baltimore city"
    assert name("Bethel", "CA", "02050") == "Bethel Census Area"
    assert name("Juneau", "Cty&Bor", "02110") == "Juneau City and Borough"
    assert name("Adjuntas", "Muno", "72001") == "Adjuntas Municipio"
    assert name("Carson City", "0", "32510") == "Carson City"


def test_a_redrawn_line_keeps_the_combined_outline_and_leaves_no_gap() -> None:
    script = build_script()
    # Two fine counties split at x = 1; the newer coarse layer moves the line to x = 1.5 and
    # its outlines stop short of the fine coast (x = 2.9): the sliver goes to the nearest.
    counties = {"02195": ("A", "AK", box(0, 0, 1, 1)), "02198": ("B", "AK", box(1, 0, 3, 1))}
    newer = {"02195": box(0, 0, 1.5, 1), "02198": box(1.5, 0, 2.9, 1)}
    script.redraw(counties, newer)
    a, b = counties["02195"][2], counties["02198"][2]
    assert abs(a.area - 1.5) < 1e-9 and abs(b.area - 1.5) < 1e-9
    assert a.union(b).equals(box(0, 0, 3, 1))


def test_the_compact_file_gives_back_the_polygons_and_grid_it_was_given(tmp_path: Path) -> None:
    square = Polygon([(-95.0, 39.0), (-94.5, 39.0), (-94.5, 39.5), (-95.0, 39.5)])
    shapes = [square, box(-94.5, 39.0, -94.0, 39.5)]
    grid = build_grid(np.array(shapes, dtype=object), 500.0)
    path = tmp_path / "two.npz"
    compact.write(
        path, [("20209", "A County", "KS"), ("29095", "B County", "MO")], shapes, {}, grid
    )

    layer = load_layer(path)

    assert [c.fips for c in layer.counties] == ["20209", "29095"]
    assert layer.geometry("20209").equals(square)
    assert layer.tolerance_m == 500.0 and layer.grid is not None
    index = CountyIndex(layer)
    assert index.locate(-94.9, 39.2) == 0 and index.locate(-94.1, 39.2) == 1
