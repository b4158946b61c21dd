"""Hostile or mistaken table files are refused with a clear reason, quickly, never a crash.

Before these limits, 50,000 nested brackets ended in a RecursionError and a 27 MB table
took minutes and gigabytes to validate.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from routing.counties import CountyLayer
from routing.errors import TablesInvalid
from routing.tables import (
    DEFAULT_TABLES_DIR,
    MAX_OVERLAY_FILE_BYTES,
    MAX_OVERLAY_VERTICES,
    MAX_TABLE_FILE_BYTES,
    json_depth,
    load_tables,
)

OVERLAY = "overlays/prairie-nation-reservation.geojson"


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    target = tmp_path / "tables"
    shutil.copytree(DEFAULT_TABLES_DIR, target)
    return target


def problems(path: Path, layer: CountyLayer) -> list[tuple[str, str, str]]:
    with pytest.raises(TablesInvalid) as info:
        load_tables(path, layer)
    return [(p.file, p.entry, p.reason) for p in info.value.problems]


def test_deeply_nested_yaml_is_refused_as_too_deep(tables: Path, county_layer: CountyLayer) -> None:
    (tables / "area_codes.yaml").write_text("area_codes: " + "[" * 50_000 + "]" * 50_000)

    assert problems(tables, county_layer) == [
        ("area_codes.yaml", "line 1", "too large: nested more than 32 levels deep")
    ]


def test_deeply_nested_geojson_is_refused_as_too_deep(
    tables: Path, county_layer: CountyLayer
) -> None:
    (tables / OVERLAY).write_text(
        '{"type": "Polygon", "coordinates": ' + "[" * 50_000 + "]" * 50_000 + "}"
    )

    assert problems(tables, county_layer) == [
        (
            OVERLAY,
            "overlay prairie-nation-reservation",
            "too large: nested more than 32 levels deep",
        )
    ]


def test_a_table_file_over_the_size_limit_is_refused_without_reading_it(
    tables: Path, county_layer: CountyLayer
) -> None:
    with (tables / "psaps.yaml").open("r+b") as f:
        f.truncate(MAX_TABLE_FILE_BYTES + 1)  # sparse: the check must not read it

    assert problems(tables, county_layer) == [
        ("psaps.yaml", "file", "too large: 1,000,001 bytes, the limit is 1,000,000")
    ]


def test_an_overlay_over_the_size_limit_is_refused(tables: Path, county_layer: CountyLayer) -> None:
    with (tables / OVERLAY).open("r+b") as f:
        f.truncate(MAX_OVERLAY_FILE_BYTES + 1)

    assert problems(tables, county_layer) == [
        (OVERLAY, "file", "too large: 10,000,001 bytes, the limit is 10,000,000")
    ]


def test_an_overlay_with_too_many_points_is_refused(
    tables: Path, county_layer: CountyLayer
) -> None:
    n = MAX_OVERLAY_VERTICES + 10
    ring = [
        [
            round(-95.6 + 0.1 * math.cos(2 * math.pi * i / n), 7),
            round(39.4 + 0.1 * math.sin(2 * math.pi * i / n), 7),
        ]
        for i in range(n)
    ]
    ring.append(ring[0])
    (tables / OVERLAY).write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))

    assert problems(tables, county_layer) == [
        (
            OVERLAY,
            "overlay prairie-nation-reservation",
            "too large: more than 250,000 points in one polygon",
        )
    ]


def test_many_yaml_aliases_are_refused(tables: Path, county_layer: CountyLayer) -> None:
    lines = ["x: &a [1]", "area_codes:"] + [f"  k{i}: *a" for i in range(101)]
    (tables / "area_codes.yaml").write_text("\n".join(lines))

    assert problems(tables, county_layer) == [
        ("area_codes.yaml", "line 103", "too large: more than 100 aliases (*name)")
    ]


def test_a_backup_chain_of_thousands_of_centers_loads_without_recursion(
    tables: Path, county_layer: CountyLayer
) -> None:
    def center(i: int, backups: str) -> str:
        return (
            f'  - {{id: c{i}, name: C{i}, number: "+17855550101", timezone: America/Chicago, '
            f'hours: "24/7", backups: [{backups}]}}\n'
        )

    chain = "".join(center(i, f"c{i + 1}, national") for i in range(3000)) + center(
        3000, "national"
    )
    text = (tables / "centers.yaml").read_text()
    (tables / "centers.yaml").write_text(text.replace("centers:\n", "centers:\n" + chain, 1))

    assert len(load_tables(tables, county_layer).centers) > 3000


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [[1, 2], {"b": "]]]]"}]}', 3),
        (b'["[\\"[[[", "\\\\"]', 1),
        (b'"\\"' * 1000, 0),  # an unterminated string of escapes: linear, no backtracking
    ],
)
def test_json_depth_ignores_brackets_inside_strings(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth
