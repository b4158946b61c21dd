"""The county layer: every US county's FIPS code, name, state and polygon.

The shipped layer (routing/data/us_counties.geojson.gz, see routing/data/SOURCE.md) is loaded
by default. Administrators may load their own boundaries (GeoJSON, or a shapefile as their
state's NG911 GIS exports it) in place of it, or on top of it: counties in their file replace
the shipped ones with the same FIPS code.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from routing.errors import RoutingError
from routing.states import STATES

DATA_DIR = Path(__file__).resolve().parent / "data"
SHIPPED_LAYER = DATA_DIR / "us_counties.geojson.gz"


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
    """Counties in FIPS order with their polygons (parallel tuples) and the layer's provenance."""

    counties: tuple[County, ...]
    geometries: tuple[BaseGeometry, ...]
    metadata: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_fips", {c.fips: i for i, c in enumerate(self.counties)})
        by_name: dict[tuple[str, str], str] = {}
        for c in self.counties:
            by_name[(c.state, _name_key(c.name))] = c.fips
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


def _name_key(name: str) -> str:
    key = " ".join(name.lower().replace("saint ", "st. ").split())
    return key


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


def _read_shapefile(path: Path) -> dict[str, Any]:
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
    fips = (
        str(record.get("GEOID") or "") or f"{record.get('STATEFP', '')}{record.get('COUNTYFP', '')}"
    )
    name = record.get("NAMELSAD") or record.get("NAME") or fips
    return {"fips": fips, "name": str(name)}


def _read_layer(path: Path) -> dict[str, Any]:
    if path.suffix.lower() == ".shp":
        return _read_shapefile(path)
    return _read_geojson(path)


def _features(path: Path, data: dict[str, Any]) -> Iterable[tuple[County, BaseGeometry]]:
    for number, feature in enumerate(data["features"], start=1):
        props = feature.get("properties") or {}
        fips = str(props.get("fips") or props.get("GEOID") or feature.get("id") or "")
        where = f"{path.name}: feature {number} (fips {fips or '?'})"
        if len(fips) != 5 or not fips.isdigit() or fips[:2] not in STATES:
            raise RoutingError(
                f"{where}: needs a 5-digit county FIPS code (property fips or GEOID)"
            )
        name = str(props.get("name") or props.get("NAME") or fips)
        state = STATES[fips[:2]][0]
        yield County(fips, name, state), _polygonal(feature.get("geometry") or {}, where)


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
            and win over the other counties where the two overlap.
    """
    base = path or SHIPPED_LAYER
    data = _read_layer(base)
    merged = {c.fips: (c, g) for c, g in _features(base, data)}
    metadata = dict(data.get("metadata") or {"source": str(base)})
    for layer in extra:
        overrides = list(_features(layer, _read_layer(layer)))
        merged.update((county.fips, (county, geom)) for county, geom in overrides)
        _yield_to(merged, {c.fips for c, _ in overrides}, [g for _, g in overrides])
        metadata["overrides"] = ", ".join(filter(None, [metadata.get("overrides"), str(layer)]))
    ordered = [merged[f] for f in sorted(merged)]
    return CountyLayer(
        counties=tuple(c for c, _ in ordered),
        geometries=tuple(g for _, g in ordered),
        metadata=metadata,
    )
