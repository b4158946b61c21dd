"""The coverage map, drawn on the server as SVG from the county layer: no internet tiles.

Each county of a configured state is filled with the colour of the center serving it; a
county no center serves is a gap (red); overlays are drawn over the counties in their
center's colour, outlined, and dashed red where overlays of two centers overlap. A county whose
centers (the serving one and its backups before the national line) are all closed at the
time asked is drawn dark: its callers go to the national line then.
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from routing.counties import CountyLayer
from routing.model import Overlay, RoutingTables

WIDTH = 900
PALETTE = (
    "#4e79a7", "#59a14f", "#edc948", "#b07aa1", "#76b7b2",
    "#f28e2b", "#9c755f", "#bab0ac", "#ff9da7", "#8cd17d",
)  # fmt: skip
GAP, CLOSED, OVERLAP = "#e15759", "#333333", "#d62728"
# Ten colours told apart by most people, also with colour blindness (Tableau 10).
SIMPLIFY_DEG = 0.005  # about 500 m: invisible at this scale, and keeps the SVG small


class _Projection:
    """Longitude, latitude to SVG pixels, with longitudes shrunk by the cosine of latitude."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        west, south, east, north = bounds
        self.west, self.north = west, north
        self.kx = math.cos(math.radians((south + north) / 2))
        self.scale = WIDTH / max((east - west) * self.kx, 1e-6)
        self.height = (north - south) * self.scale

    def path(self, geom: BaseGeometry) -> str:
        polygons = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
        parts = []
        for poly in polygons:
            if isinstance(poly, Polygon):
                for ring in (poly.exterior, *poly.interiors):
                    parts.append("M" + "L".join(self._point(x, y) for x, y in ring.coords) + "Z")
        return "".join(parts)

    def _point(self, lon: float, lat: float) -> str:
        return (
            f"{(lon - self.west) * self.kx * self.scale:.1f},{(self.north - lat) * self.scale:.1f}"
        )


def coverage_svg(tables: RoutingTables, layer: CountyLayer, at: datetime) -> str:
    """The coverage map of `tables` at time `at`, as a standalone SVG document."""
    counties = [c for s in sorted(tables.configured_states) for c in layer.in_state(s)]
    if not counties:
        return _svg(100, "<text x='10' y='50'>no configured state</text>")
    geoms = {c.fips: layer.geometry(c.fips).simplify(SIMPLIFY_DEG) for c in counties}
    projection = _Projection(shapely.union_all(list(geoms.values())).bounds)
    serving = [c for c in tables.centers if _serves(tables, c)]
    colours = {cid: PALETTE[i % len(PALETTE)] for i, cid in enumerate(serving)}
    shapes = [
        _county(projection, tables, c.fips, c.label, geoms[c.fips], colours, at) for c in counties
    ]
    shapes += [_overlay(projection, tables, o, colours[o.center_id]) for o in tables.overlays]
    legend = _legend(tables, colours, projection.height)
    return _svg(projection.height + 24 * (len(colours) + 3) + 16, "".join(shapes) + legend)


def _serves(tables: RoutingTables, center_id: str) -> bool:
    in_overlay = any(o.center_id == center_id for o in tables.overlays)
    return in_overlay or center_id in tables.county_centers.values()


def _county(
    projection: _Projection,
    tables: RoutingTables,
    fips: str,
    label: str,
    geom: BaseGeometry,
    colours: dict[str, str],
    at: datetime,
) -> str:
    center_id = tables.county_centers.get(fips)
    if center_id is None:
        fill, why = GAP, "served by no center"
    elif _all_closed(tables, center_id, at):
        fill, why = CLOSED, f"{tables.centers[center_id].name}, closed now with its backups"
    else:
        fill, why = colours[center_id], tables.centers[center_id].name
    title = escape(f"{label} ({fips}): {why}")
    return (
        f'<path class="county" data-fips="{fips}" d="{projection.path(geom)}" fill="{fill}" '
        f'stroke="#ffffff" stroke-width="0.5"><title>{title}</title></path>'
    )


def _all_closed(tables: RoutingTables, center_id: str, at: datetime) -> bool:
    chain = (center_id, *tables.centers[center_id].backups)
    return not any(tables.centers[c].is_open(at) for c in chain if c != tables.national_backup)


def _overlay(projection: _Projection, tables: RoutingTables, overlay: Overlay, colour: str) -> str:
    # Overlays take priority over counties by design; two overlays of different centers on
    # the same ground are decided by priority alone, which deserves a look.
    overlaps = any(
        o.center_id != overlay.center_id and o.geometry.intersects(overlay.geometry)
        for o in tables.overlays
    )
    dash = f' stroke-dasharray="4 2" stroke="{OVERLAP}"' if overlaps else ' stroke="#000000"'
    name = tables.centers[overlay.center_id].name
    note = "; overlaps an overlay of another center" if overlaps else ""
    title = escape(f"overlay {overlay.name}: {name}{note}")
    return (
        f'<path class="overlay" data-overlay="{overlay.id}" '
        f'd="{projection.path(overlay.geometry)}" fill="{colour}" fill-opacity="0.8" '
        f'stroke-width="1.5"{dash}><title>{title}</title></path>'
    )


def _legend(tables: RoutingTables, colours: dict[str, str], top: float) -> str:
    rows = [(colour, tables.centers[cid].name) for cid, colour in colours.items()]
    rows += [(GAP, "gap: served by no center"), (CLOSED, "every local center closed now")]
    rows += [(OVERLAP, "overlays of two centers overlapping (dashed outline)")]
    items = []
    for i, (colour, text) in enumerate(rows):
        y = top + 12 + 24 * i
        items.append(
            f'<rect x="4" y="{y:.0f}" width="16" height="16" fill="{colour}"/>'
            f'<text x="28" y="{y + 13:.0f}" font-size="14" font-family="sans-serif">'
            f"{escape(text)}</text>"
        )
    return "".join(items)


def _svg(height: float, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="Coverage map">{body}</svg>'
    )
