"""The routing decision: from what is known of a caller's location to the center to dial.

Fallback order (issue "Location-based routing core"): exact location -> civic address or ZIP
-> the transferring PSAP's own service area -> the caller's area code (the weakest method)
-> the national backup line. Then hours (a closed center passes to its backup chain) and the
specialty lines a caller asked for. What area-code routing would have done is always worked
out beside the decision, so everyone can see where the two differ.

`Router` holds one immutable `Snapshot` (county layer, index, tables). `Router.reload`
builds and validates a whole new snapshot first and only then swaps the reference, so a bad
table never replaces a good one in use, and a request never sees half of each.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from routing.areacode import AreaCodeDecision, area_code_decision
from routing.counties import County, CountyLayer, load_layer
from routing.errors import RoutingError
from routing.index import NO_COUNTY, CountyIndex, area_shares
from routing.location import Civic, LocationQuery, Point, Shape
from routing.model import Center, RoutingTables
from routing.shapes import across_antimeridian, circle, grow
from routing.zips import lookup_zip
from routing.zips import preload as preload_zips

# Below this share a second center is a sliver within the county layer's own precision
# (about 100-300 m), not a real alternative: the decision is not flagged ambiguous for it.
AMBIGUITY_THRESHOLD = 0.01

# The tolerance disk only decides which counties are near, so a coarse polygon will do.
_TOLERANCE_SEGMENTS = 24

METHODS = ("point", "shape", "civic", "psap_area", "area_code", "default")


@dataclass(frozen=True)
class Candidate:
    """A center the caller's uncertainty area overlaps, with its share of that area.

    A center whose county lies only within the county layer's tolerance of the caller (not
    within the stated uncertainty) is listed with share 0. `county_fips` is the county that
    brings the center in (its largest share); None for a custom service area.
    """

    center_id: str
    share: float
    county_fips: str | None = None


@dataclass(frozen=True)
class Decision:
    """One routing decision, with everything a call-taker, a counselor or an analyst needs.

    Attributes:
        method: how the caller was placed: one of METHODS.
        county_fips: the caller's county (the largest share of a shape), when known.
        county_name: e.g. "Wyandotte County, KS".
        overlay_id: the custom service area the caller is in, if any.
        located_center_id: the center serving the location, before hours and specialty lines.
        center_id: the center to dial first.
        center_name: its name.
        number: its E.164 number.
        dial_plan: every center to try, in order, ending at the national backup line.
        ambiguous: the uncertainty area spans more than one center.
        candidates: centers by share of the uncertainty area (one at 1.0 for a plain point).
        area_code: the caller's NPA, when a caller number was given.
        area_code_center_id: where area-code routing would have sent the call.
        area_code_differs: the two disagree.
        notes: why the first center is not the located one (closed, language, veteran).
        explanation: one line a call-taker can read.
        tables_version: which routing tables decided.
        county_candidates: 5-digit FIPS codes of every county the caller could really be in,
            best first: the stated uncertainty grown by the county layer's own tolerance.
        location_confidence: the percent confidence the sender stated for the shape that
            placed the caller (RFC 7459), used as given; None when not stated.
    """

    method: str
    county_fips: str | None
    county_name: str | None
    overlay_id: str | None
    located_center_id: str
    center_id: str
    center_name: str
    number: str
    dial_plan: tuple[str, ...]
    ambiguous: bool
    candidates: tuple[Candidate, ...]
    area_code: str | None
    area_code_center_id: str | None
    area_code_differs: bool | None
    notes: tuple[str, ...]
    explanation: str
    tables_version: str
    county_candidates: tuple[str, ...] = ()
    location_confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (the CLI's and the API's answer)."""
        data = asdict(self)
        data["dial_plan"] = list(self.dial_plan)
        data["notes"] = list(self.notes)
        data["county_candidates"] = list(self.county_candidates)
        data["candidates"] = [
            {"center_id": c.center_id, "share": round(c.share, 4), "county_fips": c.county_fips}
            for c in self.candidates
        ]
        return data


@dataclass(frozen=True)
class Placement:
    """Where the caller was placed, before hours and specialty lines."""

    method: str
    center_id: str
    county: County | None = None
    overlay_id: str | None = None
    candidates: tuple[Candidate, ...] = ()
    ambiguous: bool = False
    how: str = ""  # e.g. "point ±50 m", "ZIP 66101"
    place: str = ""  # e.g. "Wyandotte County, KS"
    notes: tuple[str, ...] = field(default=())
    county_candidates: tuple[str, ...] = ()


class Snapshot:
    """An immutable, fully built routing state: county layer, its index, tables, overlays."""

    def __init__(self, layer: CountyLayer, index: CountyIndex, tables: RoutingTables) -> None:
        self.layer = layer
        self.index = index
        self.tables = tables
        self.overlays = tables.overlays
        self.overlay_bounds = [o.geometry.bounds for o in self.overlays]
        self.overlay_geometries: npt.NDArray[np.object_] = np.array(
            [o.geometry for o in self.overlays], dtype=object
        )
        shapely.prepare(self.overlay_geometries)
        # County index -> center id, resolved once so the hot path is two list lookups.
        self.county_center: list[str | None] = [
            tables.county_centers.get(c.fips) for c in layer.counties
        ]

    def overlay_at(self, lon: float, lat: float) -> int:
        """Index of the highest-priority overlay covering the point, or -1."""
        for i, (minx, miny, maxx, maxy) in enumerate(self.overlay_bounds):
            if (
                minx <= lon <= maxx
                and miny <= lat <= maxy
                and shapely.intersects_xy(self.overlay_geometries[i], lon, lat)
            ):
                return i
        return -1

    def center_at(self, lon: float, lat: float) -> tuple[int, int, str | None]:
        """The hot path: (county index, overlay index, center id) for one point."""
        county = self.index.locate(lon, lat)
        overlay = self.overlay_at(lon, lat) if self.overlays else -1
        if overlay >= 0:
            return county, overlay, self.overlays[overlay].center_id
        return county, overlay, self.county_center[county] if county != NO_COUNTY else None

    def centers_many(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> list[str | None]:
        """Vectorised `center_at` for a batch: the center id per point (None: no center)."""
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        counties = self.index.locate_many(x, y)
        centers: list[str | None] = [
            self.county_center[c] if c != NO_COUNTY else None for c in counties.tolist()
        ]
        if self.overlays:
            points = shapely.points(x, y)
            taken = np.zeros(len(x), dtype=bool)
            for i, geometry in enumerate(self.overlay_geometries):
                inside = shapely.intersects(geometry, points) & ~taken
                for k in np.flatnonzero(inside).tolist():
                    centers[k] = self.overlays[i].center_id
                taken |= inside
        return centers

    def shape_shares(self, shape: BaseGeometry) -> tuple[list[Candidate], list[int], int]:
        """Greatest-overlap ranking (NENA i3) of the centers a shape covers.

        Overlays take their area first, in priority order; counties share what is left.

        Returns:
            Candidates by share (ties: center id), the indexes of the counties the shape
            covers outside overlays, largest share first, and the overlay with the largest
            share (-1 if none).
        """
        total = shape.area
        by_center: dict[str, float] = {}
        county_of: dict[str, str | None] = {}
        rest = shape
        best_overlay, best_overlay_share = -1, 0.0
        for i, overlay in enumerate(self.overlays):
            if not rest.intersects(overlay.geometry):
                continue
            share = rest.intersection(overlay.geometry).area / total
            by_center[overlay.center_id] = by_center.get(overlay.center_id, 0.0) + share
            county_of.setdefault(overlay.center_id, None)
            if share > best_overlay_share:
                best_overlay, best_overlay_share = i, share
            rest = rest.difference(overlay.geometry)
        shares, _outside = area_shares(rest, self.index.geometries, self.index.tree)
        rest_fraction = rest.area / total if total else 0.0
        for s in shares:  # largest share first, so a center's county is its largest one
            center = self.county_center[s.index] or self.tables.national_backup
            by_center[center] = by_center.get(center, 0.0) + s.share * rest_fraction
            county_of.setdefault(center, self.layer.counties[s.index].fips)
        ranked = sorted(by_center.items(), key=lambda item: (-item[1], item[0]))
        candidates = [Candidate(c, share, county_of[c]) for c, share in ranked if share > 0]
        if best_overlay >= 0 and shares and best_overlay_share < shares[0].share * rest_fraction:
            best_overlay = -1
        return candidates, [s.index for s in shares], best_overlay


class Router:
    """Routes callers against the current snapshot; reloads swap snapshots atomically."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._reload_lock = threading.Lock()

    @classmethod
    def from_files(
        cls, tables_dir: Path, layer_path: Path | None = None, extra_layers: Iterable[Path] = ()
    ) -> Router:
        """Load the county layer, build its index, load and validate the tables."""
        from routing.tables import load_tables  # local: keeps this module's import light

        preload_zips()  # the ZIP data set loads on first use: pay that now, not mid-call
        layer = load_layer(layer_path, extra_layers)
        index = CountyIndex(layer)
        return cls(Snapshot(layer, index, load_tables(tables_dir, layer)))

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def tables(self) -> RoutingTables:
        return self._snapshot.tables

    def reload(self, tables_dir: Path) -> RoutingTables:
        """Validate the tables in `tables_dir` and, only if they are valid, start using them.

        Raises:
            TablesInvalid: the new tables have problems; the ones in use stay in use.
        """
        from routing.tables import load_tables

        with self._reload_lock:
            current = self._snapshot
            tables = load_tables(tables_dir, current.layer)
            self._snapshot = Snapshot(current.layer, current.index, tables)
            return tables

    def use(self, tables: RoutingTables) -> None:
        """Route with `tables` (already validated) from the next decision on.

        The new snapshot is built first and swapped in with one assignment, so a decision
        in flight keeps the snapshot it started with.
        """
        with self._reload_lock:
            current = self._snapshot
            self._snapshot = Snapshot(current.layer, current.index, tables)

    def route(self, query: LocationQuery) -> Decision:
        """Decide where a caller goes. See the module docstring for the order of methods.

        Raises:
            RoutingError: an unknown PSAP, a malformed caller number, an unknown ZIP.
        """
        snap = self._snapshot  # one snapshot for the whole decision, even across a reload
        at = query.at or datetime.now(UTC)
        placement = _place(snap, query)
        area = area_code_decision(query.caller, snap.tables) if query.caller else None
        return _decide(snap, query, placement, area, at)


# -- placement ------------------------------------------------------------------------------


def _place(snap: Snapshot, query: LocationQuery) -> Placement:
    notes: list[str] = list(query.notes)
    if query.geo is not None:
        placed = _place_geo(snap, query.geo)
        if placed is not None:
            return placed
        notes.append("the location is outside every county in the layer")
    if query.civic is not None:
        placed = _place_civic(snap, query.civic, notes)
        if placed is not None:
            return _with_notes(placed, notes)
        notes.append("the civic address names no county or ZIP code the gateway knows")
    if query.psap_id is not None:
        return _with_notes(_place_psap(snap, query.psap_id), notes)
    if query.caller:
        area = area_code_decision(query.caller, snap.tables)
        return Placement(
            method="area_code",
            center_id=area.center_id,
            how=f"area code {area.npa}, the weakest method: it says where the phone was "
            "registered, not where the caller is",
            place=f"area code {area.npa}",
            notes=tuple(notes),
        )
    return Placement(
        method="default",
        center_id=snap.tables.national_backup,
        how="no location",
        place="location unknown",
        notes=tuple(notes),
    )


def _with_notes(placement: Placement, notes: list[str]) -> Placement:
    if not notes:
        return placement
    return replace(placement, notes=tuple(notes) + placement.notes)


def _place_geo(snap: Snapshot, geo: Point | Shape) -> Placement | None:
    if isinstance(geo, Point):
        if geo.radius_m:
            return _place_circle(snap, geo)
        return _place_point(snap, geo.lon, geo.lat, "point" + _confidence(geo.confidence))
    return _place_shape(snap, geo.geometry, geo.description + _confidence(geo.confidence))


def _confidence(confidence: float | None) -> str:
    """' at 68 % confidence' when the sender stated one (RFC 7459); the shape is used as is."""
    return "" if confidence is None else f" at {confidence:g} % confidence"


def _place_point(snap: Snapshot, lon: float, lat: float, how: str) -> Placement | None:
    county_index, overlay_index, center = snap.center_at(lon, lat)
    near = [county_index] if county_index != NO_COUNTY else []
    if snap.index.cell_is_inside(lon, lat) is None and snap.index.tolerance_m > 0:
        disk = circle(lat, lon, snap.index.tolerance_m, _TOLERANCE_SEGMENTS)
        near = snap.index.near(disk, [county_index])
    if county_index == NO_COUNTY and overlay_index < 0:
        if not near:
            return None
        # Outside every polygon, but no further than the map's own tolerance from a county
        # (a shoreline, a river drawn a little off): the caller is most likely in it.
        county_index, center = near[0], snap.county_center[near[0]]
        how += (
            f", just outside the county map's lines (within its {snap.index.tolerance_m:.0f} m"
            " tolerance): placed in the county covering most of that distance"
        )
    return _placement_for(snap, "point", county_index, overlay_index, center, how, near=near)


def _placement_for(
    snap: Snapshot,
    method: str,
    county_index: int,
    overlay_index: int,
    center: str | None,
    how: str,
    candidates: tuple[Candidate, ...] = (),
    ambiguous: bool = False,
    near: list[int] | None = None,
) -> Placement:
    county = snap.layer.counties[county_index] if county_index != NO_COUNTY else None
    overlay = snap.overlays[overlay_index] if overlay_index >= 0 else None
    place = county.label if county else "no county"
    if overlay is not None:
        place = f"{overlay.name}" + (f" (in {county.label})" if county else "")
    notes: tuple[str, ...] = ()
    if center is None:
        notes = (f"no center in the tables serves {place}",)
        center = snap.tables.national_backup
    near = near if near is not None else ([county_index] if county else [])
    fips = county.fips if county and overlay is None else None
    listed = candidates or (Candidate(center, 1.0, fips),)
    extra = _tolerance_candidates(snap, near, listed)
    if len(near) > 1:
        how += f", {_near_line(snap, near)}"
    return Placement(
        method=method,
        center_id=center,
        county=county,
        overlay_id=overlay.id if overlay else None,
        candidates=listed + extra,
        ambiguous=ambiguous or len({_county_center(snap, i) for i in near}) > 1,
        how=how,
        place=place,
        notes=notes,
        county_candidates=tuple(snap.layer.counties[i].fips for i in near),
    )


def _county_center(snap: Snapshot, county_index: int) -> str:
    return snap.county_center[county_index] or snap.tables.national_backup


def _tolerance_candidates(
    snap: Snapshot, near: list[int], listed: tuple[Candidate, ...]
) -> tuple[Candidate, ...]:
    """Centers of counties within the layer's tolerance only: listed with no share."""
    seen = {c.center_id for c in listed}
    extra: list[Candidate] = []
    for i in near:
        center = _county_center(snap, i)
        if center not in seen:
            seen.add(center)
            extra.append(Candidate(center, 0.0, snap.layer.counties[i].fips))
    return tuple(extra)


def _near_line(snap: Snapshot, near: list[int]) -> str:
    """'near the Wyandotte County, KS / Clay County, MO line, within ... tolerance'."""
    labels = " / ".join(snap.layer.counties[i].label for i in near[:4])
    more = f" and {len(near) - 4} more" if len(near) > 4 else ""
    lines = "line" if len(near) == 2 else "lines"
    tolerance = snap.index.tolerance_m
    return f"near the {labels}{more} {lines}, within the county map's {tolerance:.0f} m tolerance"


def _place_circle(snap: Snapshot, point: Point) -> Placement | None:
    radius = point.radius_m or 0.0
    how = f"point ±{radius:.0f} m{_confidence(point.confidence)}"
    # Fast path: the whole circle's bounding box sits inside one grid cell that lies wholly
    # inside one county, and no overlay is near: the circle cannot cross a boundary.
    cell = snap.index.cell_is_inside(point.lon, point.lat)
    shape = across_antimeridian(circle(point.lat, point.lon, radius))
    if cell is not None and _within_box(shape.bounds, cell) and not _near_overlay(snap, shape):
        return _place_point(snap, point.lon, point.lat, how)
    grown = across_antimeridian(
        circle(point.lat, point.lon, radius + snap.index.tolerance_m, _TOLERANCE_SEGMENTS)
    )
    placed = _place_shape(snap, shape, how, grown)
    if placed is not None and not placed.ambiguous:
        # The circle is within one center's area: the point itself decided.
        return replace(placed, method="point")
    return placed


def _within_box(
    bounds: tuple[float, float, float, float], box: tuple[float, float, float, float]
) -> bool:
    return (
        bounds[0] >= box[0] and bounds[1] >= box[1] and bounds[2] <= box[2] and bounds[3] <= box[3]
    )


def _near_overlay(snap: Snapshot, shape: BaseGeometry) -> bool:
    minx, miny, maxx, maxy = shape.bounds
    return any(
        minx <= b[2] and maxx >= b[0] and miny <= b[3] and maxy >= b[1] for b in snap.overlay_bounds
    )


def _place_shape(
    snap: Snapshot, shape: BaseGeometry, how: str, grown: BaseGeometry | None = None
) -> Placement | None:
    """Greatest overlap wins; `grown` (default: the shape grown by the layer's tolerance)
    says which other counties the caller could be in."""
    candidates, counties, overlay_index = snap.shape_shares(shape)
    if not candidates:
        return None
    county_index = counties[0] if counties else NO_COUNTY
    area = grown if grown is not None else grow(shape, snap.index.tolerance_m)
    near = snap.index.near(area, counties)
    ambiguous = len(candidates) > 1 and candidates[1].share >= AMBIGUITY_THRESHOLD
    if ambiguous:
        names = ", ".join(
            f"{c.share:.0%} {snap.tables.centers[c.center_id].name}" for c in candidates[:3]
        )
        how = f"{how}, crosses a boundary: {names}; greatest overlap wins"
    return _placement_for(
        snap,
        "shape",
        county_index,
        overlay_index,
        candidates[0].center_id,
        how,
        tuple(candidates),
        ambiguous,
        near,
    )


def _place_civic(snap: Snapshot, civic: Civic, notes: list[str]) -> Placement | None:
    """Place a caller by ZIP code, or by state and county (A1/A2).

    A civic address whose postal code is malformed or unknown is still placed by its A1/A2
    when they name a county, with a note; when they do not, it falls through (to the PSAP's
    area, when known) with the note, as an unknown county name does. A bare ZIP that is
    unusable stays an error: it is all the sender gave, so it is bad input. Notes go to
    `notes`.
    """
    by_name = (
        snap.layer.find_by_name(civic.state, civic.county) if civic.state and civic.county else None
    )
    if civic.postal_code:
        try:
            return _place_zip(snap, civic.postal_code)
        except RoutingError as exc:
            if not (civic.state or civic.county):
                raise
            instead = "; placed by its state and county (A1/A2) instead" if by_name else ""
            notes.append(f"postal code {civic.postal_code!r} is unusable ({exc}){instead}")
    if by_name is None:
        return None
    index = snap.layer.index_of(by_name.fips)
    return _placement_for(snap, "civic", index, -1, snap.county_center[index], "civic address")


def _place_zip(snap: Snapshot, postal_code: str) -> Placement | None:
    info = lookup_zip(postal_code)
    county = snap.layer.get(info.county_fips) if info.county_fips else None
    if county is None:
        # No county for this ZIP (or none in an administrator's own layer by that FIPS
        # code): its centre point still places it.
        placed = _place_point(snap, info.lon, info.lat, f"ZIP {info.zip} centroid")
        return None if placed is None else replace(placed, method="civic")
    index = snap.layer.index_of(county.fips)
    return _placement_for(snap, "civic", index, -1, snap.county_center[index], f"ZIP {info.zip}")


def _place_psap(snap: Snapshot, psap_id: str) -> Placement:
    psap = snap.tables.psaps.get(psap_id)
    if psap is None:
        raise RoutingError(f"unknown PSAP {psap_id!r}")
    centers = [snap.tables.county_centers.get(f) for f in psap.service_area]
    served = [c for c in centers if c is not None]
    how = f"{psap.name}'s own service area"
    if not served:
        return Placement(
            method="psap_area",
            center_id=snap.tables.national_backup,
            how=how,
            place=f"{psap.name}'s area",
            notes=(f"no center in the tables serves {psap.name}'s area",),
        )
    # A PSAP spanning several centers' areas goes to the one serving most of its counties;
    # ties go to the center of the county listed first.
    counts = Counter(served)
    center = max(served, key=lambda c: (counts[c], -served.index(c)))
    county = snap.layer.get(psap.service_area[0]) if len(psap.service_area) == 1 else None
    return Placement(
        method="psap_area",
        center_id=center,
        county=county,
        candidates=(Candidate(center, 1.0, county.fips if county else None),),
        how=how,
        place=county.label if county else f"{psap.name}'s area",
        # Only the PSAP is known: the caller may be anywhere it serves.
        county_candidates=tuple(psap.service_area),
    )


# -- the decision ---------------------------------------------------------------------------


def _decide(
    snap: Snapshot,
    query: LocationQuery,
    placement: Placement,
    area: AreaCodeDecision | None,
    at: datetime,
) -> Decision:
    tables = snap.tables
    notes = list(placement.notes)
    first = _specialty_line(tables, query, tables.centers[placement.center_id], notes)
    plan = _dial_plan(tables, [*first, placement.center_id], at, notes)
    center = tables.centers[plan[0]]
    differs = None if area is None else area.center_id != placement.center_id
    return Decision(
        method=placement.method,
        county_fips=placement.county.fips if placement.county else None,
        county_name=placement.county.label if placement.county else None,
        overlay_id=placement.overlay_id,
        located_center_id=placement.center_id,
        center_id=center.id,
        center_name=center.name,
        number=center.number,
        dial_plan=tuple(plan),
        ambiguous=placement.ambiguous,
        candidates=placement.candidates,
        area_code=area.npa if area else None,
        area_code_center_id=area.center_id if area else None,
        area_code_differs=differs,
        notes=tuple(notes),
        explanation=_explain(tables, placement, center, notes, area),
        tables_version=tables.version,
        county_candidates=placement.county_candidates,
        location_confidence=(
            query.geo.confidence if query.geo and placement.method in ("point", "shape") else None
        ),
    )


def _specialty_line(
    tables: RoutingTables, query: LocationQuery, local: Center, notes: list[str]
) -> list[str]:
    """The specialty line to try before the local center, when the caller asked for one."""
    if query.veteran and tables.veterans_line:
        notes.append(f"veteran: {tables.centers[tables.veterans_line].name} first")
        return [tables.veterans_line]
    language = (query.language or "").lower()
    if language and language not in local.languages:
        line = tables.language_lines.get(language)
        if line:
            notes.append(f"language {language}: {tables.centers[line].name} first")
            return [line]
        notes.append(f"language {language}: no line in the tables speaks it")
    return []


def _dial_plan(
    tables: RoutingTables, heads: list[str], at: datetime, notes: list[str]
) -> list[str]:
    """Each head then its backup chain, without repeats, skipping closed centers.

    The national backup line always ends the plan, open or not: there is nowhere further.
    """
    plan: list[str] = []
    for head in heads:
        for center_id in (head, *tables.centers[head].backups):
            if center_id in plan or center_id == tables.national_backup:
                continue
            center = tables.centers[center_id]
            if center.is_open(at):
                plan.append(center_id)
            else:
                notes.append(f"{center.name} is {center.closed_because(at)}")
    plan.append(tables.national_backup)
    return plan


def _explain(
    tables: RoutingTables,
    placement: Placement,
    center: Center,
    notes: list[str],
    area: AreaCodeDecision | None,
) -> str:
    line = f"{placement.place} ({placement.how}) → {center.name}"
    if notes:
        line += f" ({'; '.join(notes)})"
    if area is None:
        return line + "; no caller number, so no area-code comparison"
    if placement.method == "area_code":
        return line
    # A number from outside North America has no area code: its routing is the national line.
    by = f"area code {area.npa}" if area.npa else "area-code routing (no North American area code)"
    if area.center_id == placement.center_id:
        return line + f"; {by} would have chosen the same center"
    other = tables.centers[area.center_id].name
    return line + f"; by {by} this call would have gone to {other}"
