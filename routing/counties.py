"""The county layer: every US county's FIPS code, name, state and polygon.

The shipped layer (routing/data/us_counties.npz, a compact file with a prebuilt index; see
routing/data/SOURCE.md) is loaded by default. Administrators may load their own boundaries
(GeoJSON, or a shapefile as their state's NG911 GIS exports it, including a NENA-STA-006
county boundary layer that names counties by State and County rather than FIPS) in place of
it, or on top of it: counties in their file replace the shipped ones with the same FIPS code.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from routing import compact
from routing.compact import Grid
from routing.errors import RoutingError
from routing.states import STATES

DATA_DIR = Path(__file__).resolve().parent / "data"
SHIPPED_LAYER = DATA_DIR / "us_counties.npz"


@dataclass(frozen=True)
class County:
    """One county or county-equivalent. `name` is readable on its own: "Wyandotte County"."""

    fips: str
    name: str
    state: str

    @property
    def label(self) -> str:
        """'Wyandotte County, KS'."""
        return f"{self.name}, {self.state}"


@dataclass(frozen=True)
class CountyLayer:
    """Counties in FIPS order with their polygons (parallel tuples) and the layer's provenance.

    Attributes:
        tolerance_m: how far the layer's lines may be from the true county lines (from its
            source scale); a location within it of another county may be in that county.
        grid: a prebuilt grid index for exactly these polygons and this tolerance, if any.
    """

    counties: tuple[County, ...]
    geometries: tuple[BaseGeometry, ...]
    metadata: Mapping[str, str]
    tolerance_m: float = 0.0
    grid: Grid | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_fips", {c.fips: i for i, c in enumerate(self.counties)})
        by_name: dict[tuple[str, str], str] = {}
        for c in self.counties:
            by_name[(c.state, _name_key(c.name))] = c.fips
        for c in self.counties:
            # "Anchorage" finds Anchorage Municipality, "Bethel" Bethel Census Area; a full
            # name of another county ("Charles City" is Charles City County) is never hidden.
            stem = _name_key(c.name)
            for word in _KINDS:
                if stem.endswith(word):
                    by_name.setdefault((c.state, stem.removesuffix(word)), c.fips)
        object.__setattr__(self, "_by_name", by_name)

    def __len__(self) -> int:
        return len(self.counties)

    def get(self, fips: str) -> County | None:
        index = self._by_fips.get(fips)  # type: ignore[attr-defined]
        return None if index is None else self.counties[index]

    def index_of(self, fips: str) -> int:
        """Position of a county in `counties` (and `geometries`)."""
        index: int = self._by_fips[fips]  # type: ignore[attr-defined]
        return index

    def geometry(self, fips: str) -> BaseGeometry:
        return self.geometries[self._by_fips[fips]]  # type: ignore[attr-defined]

    def in_state(self, state: str) -> list[County]:
        """Counties of a state by USPS code, in FIPS order."""
        return [c for c in self.counties if c.state == state]

    def find_by_name(self, state: str, name: str) -> County | None:
        """Find a county from a civic address's A1 (state) and A2 (county) fields.

        Accepts "Wyandotte", "Wyandotte County", "wyandotte county" and "St. Louis City".
        """
        fips = self._by_name.get((state.upper(), _name_key(name)))  # type: ignore[attr-defined]
        if fips is None:
            fips = self._by_name.get((state.upper(), _name_key(name + " County")))  # type: ignore[attr-defined]
        return None if fips is None else self.get(fips)


# What county-equivalents are called, as name endings in `_name_key` form.
_KINDS = ("cityandborough", "censusarea", "municipality", "municipio", "borough", "parish")


_NOT_ALNUM = re.compile(r"[\W_]+")


def _name_key(name: str) -> str:
    """Case, spaces and dots ignored: "St. Louis City", "saint louis city", "LaSalle"."""
    return _NOT_ALNUM.sub("", name.lower().replace("saint ", "st. "))


def _polygonal(geometry: dict[str, Any], where: str) -> BaseGeometry:
    geom = shape(geometry)
    if not isinstance(geom, Polygon | MultiPolygon):
        raise RoutingError(f"{where}: expected a Polygon or MultiPolygon, got {geom.geom_type}")
    if geom.is_empty or not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise RoutingError(f"{where}: invalid polygon ({reason})")
    return geom


def _read_geojson(path: Path) -> dict[str, Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RoutingError(f"{path.name}: cannot read it as GeoJSON ({exc})") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise RoutingError(f"{path}: not a GeoJSON FeatureCollection")
    return data


def read_shapefile(path: Path) -> dict[str, Any]:
    """A shapefile's counties as a GeoJSON FeatureCollection (pyshp reads it, pure Python).

    Census and most state NG911 exports name the county GEOID (or STATEFP + COUNTYFP) and
    NAMELSAD ("Wyandotte County") or NAME. Only longitude/latitude is accepted: a projected
    layer would put every county in the wrong place, so it is refused with a hint instead.
    """
    import shapefile  # pyshp

    prj = path.with_suffix(".prj")
    if prj.exists() and prj.read_text(errors="replace").lstrip().upper().startswith("PROJCS"):
        raise RoutingError(
            f"{path.name}: projected coordinates ({prj.name}); reproject it to longitude/"
            "latitude first, e.g. ogr2ogr -t_srs EPSG:4326 out.shp in.shp"
        )
    try:
        with shapefile.Reader(str(path)) as reader:
            names = [field[0] for field in reader.fields[1:]]
            features = [
                {
                    "type": "Feature",
                    "properties": _shapefile_properties(dict(zip(names, item.record, strict=True))),
                    "geometry": item.shape.__geo_interface__,
                }
                for item in reader.iterShapeRecords()
            ]
    except shapefile.ShapefileException as exc:
        raise RoutingError(f"{path.name}: cannot read the shapefile ({exc})") from None
    return {"type": "FeatureCollection", "features": features, "metadata": {"source": str(path)}}


def _shapefile_properties(record: dict[str, Any]) -> dict[str, str]:
    """The record's fields as text (dates as ISO), plus its FIPS code when it has one."""
    props = {
        key: value.isoformat() if isinstance(value, date) else str(value)
        for key, value in record.items()
        if value is not None
    }
    fips = props.get("GEOID") or f"{props.get('STATEFP', '')}{props.get('COUNTYFP', '')}"
    if fips:
        props["fips"] = fips
    if "NAMELSAD" in props:
        props["name"] = props["NAMELSAD"]
    return props


def _read_layer(path: Path) -> dict[str, Any]:
    if path.suffix.lower() == ".shp":
        return read_shapefile(path)
    return _read_geojson(path)


NameLookup = Callable[[str, str], "County | None"]


def _features(
    path: Path, data: dict[str, Any], by_name: NameLookup | None = None
) -> Iterable[tuple[County, BaseGeometry]]:
    """Each county of a layer; features naming the same county are merged into one.

    A NENA-STA-006 county boundary layer has no FIPS code: its State ("KS") and County
    ("Wyandotte County") fields are looked up in the layer underneath (`by_name`). Features
    whose NENA Expire date has passed are no longer in force and are left out.
    """
    merged: dict[str, tuple[County, list[BaseGeometry]]] = {}
    today = date.today().isoformat()
    for number, feature in enumerate(data["features"], start=1):
        props = feature.get("properties") or {}
        if str(props.get("Expire") or "9999")[:10] < today:
            continue
        county = _county_of(props, feature, f"{path.name}: feature {number}", by_name)
        where = f"{path.name}: feature {number} (fips {county.fips})"
        geometry = _polygonal(feature.get("geometry") or {}, where)
        merged.setdefault(county.fips, (county, []))[1].append(geometry)
    for county, parts in merged.values():
        yield county, parts[0] if len(parts) == 1 else unary_union(parts)


def _county_of(
    props: Mapping[str, Any], feature: Mapping[str, Any], where: str, by_name: NameLookup | None
) -> County:
    fips = str(props.get("fips") or props.get("GEOID") or feature.get("id") or "")
    if not fips and props.get("State") and props.get("County") and by_name is not None:
        found = by_name(str(props["State"]), str(props["County"]))
        if found is None:
            raise RoutingError(
                f"{where}: no county {props['County']!r} in {props['State']!r} "
                "(NENA State and County fields) in the county layer underneath"
            )
        return County(found.fips, str(props["County"]), found.state)
    if len(fips) != 5 or not fips.isdigit() or fips[:2] not in STATES:
        raise RoutingError(
            f"{where} (fips {fips or '?'}): needs a 5-digit county FIPS code (property fips "
            "or GEOID), or NENA State and County fields"
        )
    name = str(props.get("name") or props.get("NAME") or fips)
    return County(fips, name, STATES[fips[:2]][0])


def _yield_to(
    merged: dict[str, tuple[County, BaseGeometry]], winners: set[str], shapes: list[BaseGeometry]
) -> None:
    """Cut the overriding counties' area out of every other county that overlaps them.

    An administrator's accurate boundary for one county rarely matches the coarse shipped
    outline of its neighbours; without this, a caller in the overlap would go to whichever
    county has the lower FIPS code rather than to the administrator's.
    """
    if not shapes:
        return
    cover = unary_union(shapes)
    shapely.prepare(cover)
    for fips, (county, geom) in list(merged.items()):
        if fips in winners or not cover.intersects(geom) or cover.touches(geom):
            continue
        rest = geom.difference(cover)
        parts = [g for g in getattr(rest, "geoms", [rest]) if isinstance(g, Polygon | MultiPolygon)]
        if parts:
            merged[fips] = (county, unary_union(parts))
        else:
            del merged[fips]  # wholly inside the administrator's counties


def load_layer(path: Path | None = None, extra: Iterable[Path] = ()) -> CountyLayer:
    """Load a county layer.

    Args:
        path: a GeoJSON FeatureCollection (optionally gzipped) with properties fips (or GEOID)
            and name, or a shapefile (.shp) in longitude/latitude; the shipped layer when None.
        extra: more layers laid on top: their counties replace those with the same FIPS code,
            and win over the other counties where the two overlap. A NENA-STA-006 county
            boundary layer is read as it comes, its counties found by State and County name.
    """
    base = path or SHIPPED_LAYER
    layer = _read_compact(base) if base.suffix == ".npz" else _read_plain(base)
    extra = list(extra)
    if not extra:
        return layer
    merged = {c.fips: (c, g) for c, g in zip(layer.counties, layer.geometries, strict=True)}
    metadata = dict(layer.metadata)
    for overlay in extra:
        overrides = list(_features(overlay, _read_layer(overlay), layer.find_by_name))
        merged.update((county.fips, (county, geom)) for county, geom in overrides)
        _yield_to(merged, {c.fips for c, _ in overrides}, [g for _, g in overrides])
        metadata["overrides"] = ", ".join(filter(None, [metadata.get("overrides"), str(overlay)]))
    # The overrides change polygons, so the shipped grid no longer fits: it is rebuilt.
    return _ordered(merged, metadata, layer.tolerance_m)


def _ordered(
    merged: Mapping[str, tuple[County, BaseGeometry]], metadata: Mapping[str, str], tolerance: float
) -> CountyLayer:
    ordered = [merged[f] for f in sorted(merged)]
    return CountyLayer(
        counties=tuple(c for c, _ in ordered),
        geometries=tuple(g for _, g in ordered),
        metadata=metadata,
        tolerance_m=tolerance,
    )


def _read_plain(path: Path) -> CountyLayer:
    """A GeoJSON or shapefile layer. Its tolerance is 0 unless its metadata states one."""
    data = _read_layer(path)
    metadata = dict(data.get("metadata") or {"source": str(path)})
    merged = {c.fips: (c, g) for c, g in _features(path, data)}
    return _ordered(merged, metadata, float(metadata.get("tolerance_m") or 0.0))


def _read_compact(path: Path) -> CountyLayer:
    try:
        data = compact.read(path)
    except (OSError, ValueError, KeyError) as exc:
        raise RoutingError(f"{path.name}: cannot read the compact county layer ({exc})") from None
    return CountyLayer(
        counties=tuple(
            County(f, n, s) for f, n, s in zip(data.fips, data.names, data.states, strict=True)
        ),
        geometries=tuple(data.geometries),
        metadata=data.metadata,
        tolerance_m=data.grid.tolerance_m,
        grid=data.grid,
    )
