"""The shipped county layer's compact file: quantized polygons plus a prebuilt grid index.

A fine county layer (837,022 vertices) parsed from GeoJSON costs seconds and hundreds of MB
at every start; its grid index costs another second or more. This file (a NumPy .npz archive,
no pickles) holds what a start needs, already built:

* names and codes as fixed-width string arrays;
* every vertex as an integer count of 0.00001° (about 1.1 m, hundreds of times finer than
  the layer's own tolerance), delta-encoded so the archive's zlib compression keeps it a few
  MB;
* the ring/polygon/county offsets of shapely's ragged-array form, so the polygons are rebuilt
  in one vectorised call;
* the grid index (see routing.index) with the tolerance it was built for.

`scripts/build_county_layer.py` writes it; `routing.counties.load_layer` reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

IntArray = npt.NDArray[np.int64]
UNITS_PER_DEGREE = 100_000  # the build script snaps vertices to this grid first
FORMAT = "gateway988-county-layer/1"


@dataclass(frozen=True)
class Grid:
    """A prebuilt two-level grid over a county layer (see routing.index for how it is used).

    Attributes:
        x0, y0: south-west corner of the coarse grid, degrees.
        nx, ny: coarse cells east-west and north-south.
        coarse: one code per coarse cell (county index, empty, or a fine block).
        fine: SPLIT × SPLIT codes per fine block (county index, empty, or a boundary cell).
        offsets, counties: boundary cell k may be in counties[offsets[k]:offsets[k + 1]].
        tolerance_m: how far beyond a cell's box a county must stay clear for the cell to
            count as wholly inside one county.
    """

    x0: float
    y0: float
    nx: int
    ny: int
    coarse: IntArray
    fine: IntArray
    offsets: IntArray
    counties: IntArray
    tolerance_m: float


@dataclass(frozen=True)
class CompactLayer:
    """What the compact file holds, ready for routing.counties to wrap."""

    fips: list[str]
    names: list[str]
    states: list[str]
    geometries: npt.NDArray[np.object_]
    metadata: Mapping[str, str]
    grid: Grid


def write(
    path: Path,
    rows: list[tuple[str, str, str]],
    geometries: list[BaseGeometry],
    metadata: Mapping[str, str],
    grid: Grid,
) -> None:
    """Write the compact file. `rows` are (fips, name, state), parallel to `geometries`."""
    _kind, coords, offsets = shapely.to_ragged_array(_as_multipolygons(geometries))
    quantized = np.round(coords * UNITS_PER_DEGREE).astype(np.int64)
    deltas = np.diff(quantized, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    np.savez_compressed(
        path,
        format=np.array(FORMAT),
        metadata=np.array(json.dumps(dict(metadata), sort_keys=True)),
        fips=np.array([r[0] for r in rows]),
        names=np.array([r[1] for r in rows]),
        states=np.array([r[2] for r in rows]),
        deltas=deltas.astype(np.int32),
        ring_offsets=offsets[0].astype(np.int32),
        polygon_offsets=offsets[1].astype(np.int32),
        county_offsets=offsets[2].astype(np.int32),
        grid_origin=np.array([grid.x0, grid.y0, grid.tolerance_m]),
        grid_shape=np.array([grid.nx, grid.ny]),
        grid_coarse=grid.coarse.astype(np.int32),
        grid_fine=grid.fine.astype(np.int32),
        grid_offsets=grid.offsets.astype(np.int32),
        grid_counties=grid.counties.astype(np.int32),
    )


def _as_multipolygons(geometries: list[BaseGeometry]) -> npt.NDArray[np.object_]:
    """Every county as a MultiPolygon: the ragged-array form wants one geometry type."""
    out = np.empty(len(geometries), dtype=object)
    for i, geometry in enumerate(geometries):
        parts = getattr(geometry, "geoms", [geometry])
        out[i] = shapely.MultiPolygon(list(parts))
    return out


def read(path: Path) -> CompactLayer:
    """Read a compact file written by `write`.

    Raises:
        ValueError: the file is not a compact county layer this code can read.
    """
    with np.load(path, allow_pickle=False) as data:
        if str(data["format"]) != FORMAT:
            raise ValueError(f"{path.name}: not a {FORMAT} file")
        arrays: dict[str, Any] = {name: data[name] for name in data.files}
    coords = np.cumsum(arrays["deltas"], axis=0, dtype=np.int64) / UNITS_PER_DEGREE
    geometries = shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON,
        coords,
        (arrays["ring_offsets"], arrays["polygon_offsets"], arrays["county_offsets"]),
    )
    x0, y0, tolerance = (float(v) for v in arrays["grid_origin"])
    nx, ny = (int(v) for v in arrays["grid_shape"])
    grid = Grid(
        x0=x0,
        y0=y0,
        nx=nx,
        ny=ny,
        coarse=arrays["grid_coarse"].astype(np.int64),
        fine=arrays["grid_fine"].astype(np.int64),
        offsets=arrays["grid_offsets"].astype(np.int64),
        counties=arrays["grid_counties"].astype(np.int64),
        tolerance_m=tolerance,
    )
    return CompactLayer(
        fips=arrays["fips"].tolist(),
        names=arrays["names"].tolist(),
        states=arrays["states"].tolist(),
        geometries=geometries,
        metadata=json.loads(str(arrays["metadata"])),
        grid=grid,
    )
