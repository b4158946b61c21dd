"""In-memory spatial index: which county (and which overlay) covers a point or a shape.

The hot path is a single point. An R-tree query costs about 10 µs in shapely because of its
per-call overhead, so points are answered from a two-level grid built once per process:

* a coarse grid of 0.25° cells, each either empty, inside one county, or split into
* a fine block of 5 × 5 cells of 0.05°, each empty, inside one county, or on a boundary.

A cell counts as "inside" only when its box, grown by the layer's positional tolerance (and
`_EPS`), touches exactly one county and no county boundary: every point of the cell then
lies inside that county and at least the tolerance away from any other, so a caller there
has one candidate county. Only points in boundary cells pay for exact point-in-polygon
tests, against the few counties whose polygons come within the tolerance of the cell.

The shipped layer carries this grid prebuilt (routing/compact.py); other layers build it
when loaded.

A point on a shared edge or vertex is covered by several counties; the rule everywhere
(index, brute force, batch) is the lowest FIPS code, so the answer is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from routing.compact import Grid
from routing.counties import CountyLayer
from routing.shapes import METRES_PER_DEGREE_LAT

COARSE = 0.25  # degrees
SPLIT = 5  # fine cells per coarse cell, each way
FINE = COARSE / SPLIT
_EPS = 1e-9  # degrees; covers float rounding when a point sits exactly on a cell edge
_CHUNK = 32_768  # cells classified at once while building

# Cell codes in the coarse grid: >= 0 is a county index; these are the others.
_EMPTY = -1
_SPLIT_BASE = -2  # -2 - k: fine block k

# Cell codes in the fine blocks: >= 0 county index, _EMPTY, or -2 - k: boundary cell k.
NO_COUNTY = -1

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Share:
    """Part of a shape's area: `index` is a county index (or overlay index), `share` in 0..1."""

    index: int
    share: float


class _GridBuilder:
    """Classifies grid cells against a layer's polygons: the one-off work behind a `Grid`."""

    def __init__(self, geometries: npt.NDArray[np.object_], tolerance_m: float) -> None:
        self.geometries = geometries
        self.tolerance_m = tolerance_m

    def build(self) -> Grid:
        minx, miny, maxx, maxy = shapely.total_bounds(self.geometries)
        # Counties that cross the antimeridian (the Aleutians) would stretch the grid around
        # the world; points beyond it fall back to the R-tree, which is still exact.
        minx = max(minx, -180.0)
        maxx = min(maxx, -60.0) if minx < -60.0 else maxx
        x0 = math.floor(minx / COARSE) * COARSE
        y0 = math.floor(miny / COARSE) * COARSE
        nx = math.ceil((maxx - x0) / COARSE)
        ny = math.ceil((maxy - y0) / COARSE)
        ix, iy = np.divmod(np.arange(nx * ny), ny)
        codes, undecided, _ = self._classify(x0 + ix * COARSE, y0 + iy * COARSE, COARSE)

        # Split every undecided coarse cell into a block of fine cells.
        blocks = np.flatnonzero(undecided)
        codes[blocks] = _SPLIT_BASE - np.arange(len(blocks))
        sub = np.arange(SPLIT * SPLIT)
        fx = (x0 + ix[blocks] * COARSE)[:, None] + (sub // SPLIT)[None, :] * FINE
        fy = (y0 + iy[blocks] * COARSE)[:, None] + (sub % SPLIT)[None, :] * FINE
        fine, fine_undecided, (cell, county) = self._classify(fx.ravel(), fy.ravel(), FINE)

        # Boundary cells keep the candidate counties whose polygons touch them, FIPS order.
        boundary = np.flatnonzero(fine_undecided)
        fine[boundary] = _SPLIT_BASE - np.arange(len(boundary))
        keep = fine_undecided[cell]
        cell, county = cell[keep], county[keep]
        starts = np.searchsorted(cell, boundary)
        offsets = np.append(starts, len(cell)).astype(np.int64)
        return Grid(x0, y0, nx, ny, codes, fine, offsets, county, self.tolerance_m)

    def _classify(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], size: float
    ) -> tuple[IntArray, npt.NDArray[np.bool_], tuple[IntArray, IntArray]]:
        """Code each cell as empty, inside one county, or undecided (near a boundary).

        Returns:
            The codes, which cells are undecided, and every (cell, county) pair whose grown
            box and polygon intersect, sorted by cell then county.
        """
        # In chunks: hundreds of thousands of box geometries at once would double the
        # process's peak memory for no gain in speed.
        parts = [
            self._classify_chunk(x[i : i + _CHUNK], y[i : i + _CHUNK], size)
            for i in range(0, len(x), _CHUNK)
        ]
        offsets = np.arange(0, len(x), _CHUNK)
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            (
                np.concatenate([p[2][0] + o for p, o in zip(parts, offsets, strict=True)]),
                np.concatenate([p[2][1] for p in parts]),
            ),
        )

    def _classify_chunk(
        self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], size: float
    ) -> tuple[IntArray, npt.NDArray[np.bool_], tuple[IntArray, IntArray]]:
        boxes = shapely.STRtree(_boxes(x, y, size, self.tolerance_m))
        # Query the tree of boxes with the polygons (not the other way round), so that shapely
        # prepares each complex polygon once instead of each trivial box.
        county, cell = boxes.query(self.geometries, predicate="intersects")
        order = np.lexsort((county, cell))
        cell, county = cell[order], county[order]
        hits = np.bincount(cell, minlength=len(x))
        # A box touched by one polygon alone is inside it only if it is also clear of that
        # polygon's boundary (it may stick out over the sea or a border with no county).
        single = hits[cell] == 1
        single[single] = shapely.contains_properly(
            self.geometries[county[single]], boxes.geometries[cell[single]]
        )
        inside = np.zeros(len(x), dtype=bool)
        inside[cell[single]] = True
        codes = np.full(len(x), _EMPTY, dtype=np.int64)
        codes[cell[single]] = county[single]
        return codes, (hits > 0) & ~inside, (cell, county)


def build_grid(geometries: npt.NDArray[np.object_], tolerance_m: float = 0.0) -> Grid:
    """Build the grid index over county polygons (about a second for every US county).

    A cell counts as inside one county only when its box, grown by `tolerance_m`, is: so a
    point in such a cell is at least the layer's tolerance away from every other county.
    """
    shapely.prepare(geometries)
    return _GridBuilder(geometries, tolerance_m).build()


class CountyIndex:
    """Answers "which county covers this point" over one county layer.

    Uses the layer's prebuilt grid when it has one (the shipped layer does), otherwise builds
    one (about a second). Read-only after construction and safe to use from many threads.
    """

    def __init__(self, layer: CountyLayer) -> None:
        self.layer = layer
        self.tolerance_m = layer.tolerance_m
        self.geometries: npt.NDArray[np.object_] = np.array(layer.geometries, dtype=object)
        shapely.prepare(self.geometries)
        self.tree = shapely.STRtree(self.geometries)
        grid = layer.grid or build_grid(self.geometries, layer.tolerance_m)
        self.x0, self.y0, self.nx, self.ny = grid.x0, grid.y0, grid.nx, grid.ny
        # Boundary cell k's counties are _counties[_offsets[k]:_offsets[k + 1]], sliced when
        # asked: building a tuple per cell up front cost 60 ms of every start.
        self._offsets: list[int] = grid.offsets.tolist()
        self._counties: list[int] = grid.counties.tolist()
        # Plain lists index faster than numpy arrays from Python on the single-point path.
        self._coarse_codes: IntArray = grid.coarse
        self._fine_codes: IntArray = grid.fine
        self._coarse = grid.coarse.tolist()
        self._fine = grid.fine.tolist()

    # -- queries ------------------------------------------------------------------------

    def locate(self, lon: float, lat: float) -> int:
        """Index of the county covering (lon, lat), or NO_COUNTY. Lowest FIPS on an edge."""
        cx = int((lon - self.x0) // COARSE)
        cy = int((lat - self.y0) // COARSE)
        if not (0 <= cx < self.nx and 0 <= cy < self.ny):
            return self._locate_by_tree(lon, lat)
        code: int = self._coarse[cx * self.ny + cy]
        if code >= _EMPTY:
            return code
        fx = min(int((lon - self.x0 - cx * COARSE) // FINE), SPLIT - 1)
        fy = min(int((lat - self.y0 - cy * COARSE) // FINE), SPLIT - 1)
        code = self._fine[(_SPLIT_BASE - code) * SPLIT * SPLIT + max(fx, 0) * SPLIT + max(fy, 0)]
        if code >= _EMPTY:
            return code
        geometries = self.geometries
        k = _SPLIT_BASE - code
        for county in self._counties[self._offsets[k] : self._offsets[k + 1]]:
            if shapely.intersects_xy(geometries[county], lon, lat):
                return county
        return NO_COUNTY

    def cell_is_inside(self, lon: float, lat: float) -> tuple[float, float, float, float] | None:
        """The bounds of the grid cell around a point when it lies wholly inside one county."""
        cx = int((lon - self.x0) // COARSE)
        cy = int((lat - self.y0) // COARSE)
        if not (0 <= cx < self.nx and 0 <= cy < self.ny):
            return None
        x, y = self.x0 + cx * COARSE, self.y0 + cy * COARSE
        code: int = self._coarse[cx * self.ny + cy]
        if code >= 0:
            return (x, y, x + COARSE, y + COARSE)
        if code == _EMPTY:
            return None
        fx = min(max(int((lon - x) // FINE), 0), SPLIT - 1)
        fy = min(max(int((lat - y) // FINE), 0), SPLIT - 1)
        if self._fine[(_SPLIT_BASE - code) * SPLIT * SPLIT + fx * SPLIT + fy] >= 0:
            x, y = x + fx * FINE, y + fy * FINE
            return (x, y, x + FINE, y + FINE)
        return None

    def _locate_by_tree(self, lon: float, lat: float) -> int:
        hits = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
        return int(hits.min()) if len(hits) else NO_COUNTY

    def locate_many(self, lon: Sequence[float] | npt.ArrayLike, lat: npt.ArrayLike) -> IntArray:
        """Vectorised `locate` for a batch of points (same answers, far less overhead)."""
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        out = np.full(len(x), NO_COUNTY, dtype=np.int64)
        cx = np.floor((x - self.x0) / COARSE).astype(np.int64)
        cy = np.floor((y - self.y0) / COARSE).astype(np.int64)
        in_grid = (cx >= 0) & (cx < self.nx) & (cy >= 0) & (cy < self.ny)
        coarse = np.full(len(x), _SPLIT_BASE - 10**9, dtype=np.int64)  # "use the tree"
        coarse[in_grid] = self._coarse_codes[cx[in_grid] * self.ny + cy[in_grid]]
        decided = coarse >= _EMPTY
        out[decided] = coarse[decided]
        split = in_grid & ~decided
        fx = np.clip(np.floor((x - self.x0 - cx * COARSE) / FINE), 0, SPLIT - 1).astype(np.int64)
        fy = np.clip(np.floor((y - self.y0 - cy * COARSE) / FINE), 0, SPLIT - 1).astype(np.int64)
        fine = np.full(len(x), _SPLIT_BASE - 10**9, dtype=np.int64)
        block = _SPLIT_BASE - coarse[split]
        fine[split] = self._fine_codes[block * SPLIT * SPLIT + fx[split] * SPLIT + fy[split]]
        decided = split & (fine >= _EMPTY)
        out[decided] = fine[decided]
        # Boundary cells and points beyond the grid: one vectorised R-tree query for boxes,
        # then the exact test against the counties' prepared (indexed) polygons. The tree's
        # own predicate would walk every vertex of each county for each point.
        rest = np.flatnonzero(~in_grid | (split & (fine < _EMPTY)))
        if len(rest):
            which, county = self.tree.query(shapely.points(x[rest], y[rest]))
            inside = shapely.intersects_xy(self.geometries[county], x[rest][which], y[rest][which])
            which, county = which[inside], county[inside]
            first = np.full(len(rest), np.iinfo(np.int64).max)
            np.minimum.at(first, which, county)
            out[rest] = np.where(first == np.iinfo(np.int64).max, NO_COUNTY, first)
        return out

    def brute_force(self, lon: float, lat: float) -> int:
        """The reference answer: test every county polygon in FIPS order. For tests and bench."""
        hits = np.flatnonzero(shapely.intersects_xy(self.geometries, lon, lat))
        return int(hits[0]) if len(hits) else NO_COUNTY

    def near(self, area: BaseGeometry, ranked: Sequence[int] = ()) -> list[int]:
        """Counties an area touches: `ranked` first (already ordered), then the nearest.

        The area is the caller's location grown by the layer's tolerance, so these are the
        counties the caller could really be in, given how far the layer's lines may be off.
        Only a prepared intersects test and a distance per extra county: no overlay of
        polygons, which would double the cost of a decision near a line.
        """
        first = [i for i in ranked if i != NO_COUNTY]
        rest = [i for i in self._touching(area).tolist() if i not in first]
        if len(rest) > 1:
            distances = shapely.distance(self.geometries[rest], area.centroid).tolist()
            rest = [i for _, i in sorted(zip(distances, rest, strict=True))]
        return first + rest

    def _touching(self, area: BaseGeometry) -> IntArray:
        """Counties intersecting an area: boxes from the tree, then the counties' prepared
        geometries (the tree's own predicate would test the small area against every
        vertex of each big county instead)."""
        boxes = self.tree.query(area)
        touching: IntArray = boxes[shapely.intersects(self.geometries[boxes], area)]
        return touching

    def overlaps(self, shape: BaseGeometry) -> tuple[list[Share], float]:
        """Each county's share of a shape's area, largest first (ties: lowest FIPS).

        Returns:
            The shares, and the share of the shape that lies in no county (sea, abroad).
        """
        return area_shares(shape, self.geometries, self.tree)


def area_shares(
    shape: BaseGeometry, geometries: npt.NDArray[np.object_], tree: shapely.STRtree
) -> tuple[list[Share], float]:
    """Shares of `shape`'s area inside each of `geometries` (found through `tree`)."""
    total = shape.area
    if total <= 0:
        return [], 1.0
    # Boxes only: an overlay of a county that misses the shape is empty and dropped below.
    candidates = tree.query(shape)
    if len(candidates) == 0:
        return [], 1.0
    areas = shapely.area(shapely.intersection(geometries[candidates], shape)) / total
    shares = [Share(int(i), float(a)) for i, a in zip(candidates, areas, strict=True) if a > 0]
    shares.sort(key=lambda s: (-s.share, s.index))
    return shares, max(0.0, 1.0 - sum(s.share for s in shares))


def _boxes(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], size: float, tolerance_m: float
) -> npt.NDArray[np.object_]:
    """Cell boxes grown by the tolerance (in degrees at the cell's poleward edge) and `_EPS`."""
    grow_y = tolerance_m / METRES_PER_DEGREE_LAT + _EPS
    poleward = np.maximum(np.abs(y), np.abs(y + size))
    grow_x = tolerance_m / (METRES_PER_DEGREE_LAT * np.maximum(np.cos(np.radians(poleward)), 1e-6))
    grow_x = grow_x + _EPS
    boxes: npt.NDArray[np.object_] = shapely.box(
        x - grow_x, y - grow_y, x + size + grow_x, y + size + grow_y
    )
    return boxes
