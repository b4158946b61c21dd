"""Near a county line the county layer cannot tell: decisions say so, and name the counties."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import shapely

from routing.counties import CountyLayer
from routing.engine import Router, Snapshot
from routing.index import CountyIndex, build_grid
from routing.location import LocationQuery, Point, Shape
from routing.shapes import circle
from routing.tables import DEFAULT_TABLES_DIR, load_tables

AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # a Wednesday evening: every sample center open


@pytest.fixture(scope="module")
def router(county_layer: CountyLayer, county_index: CountyIndex) -> Router:
    return Router(
        Snapshot(county_layer, county_index, load_tables(DEFAULT_TABLES_DIR, county_layer))
    )


def route(router: Router, geo: Point | Shape) -> dict[str, object]:
    return router.route(LocationQuery(geo=geo, at=AT)).to_dict()


def test_a_point_a_few_hundred_metres_from_the_missouri_river_line_names_both_counties(
    router: Router,
) -> None:
    # About 100 m on the Kansas side of the Wyandotte County, KS / Clay County, MO line.
    decision = route(router, Point(39.1204, -94.60703))
    assert decision["county_fips"] == "20209"
    assert decision["county_candidates"] == ["20209", "29047"]
    assert decision["ambiguous"] is True  # the two counties have different centers
    assert "near the Wyandotte County, KS / Clay County, MO line" in str(decision["explanation"])
    assert decision["center_id"] == "kc-kansas"  # the point itself still decides


def test_the_county_the_point_falls_in_comes_first_among_the_candidates(router: Router) -> None:
    decision = route(router, Point(39.1212, -94.60573))  # just across, on the Missouri side
    assert decision["county_candidates"] == ["29047", "20209"]
    assert decision["center_id"] == "kc-missouri"


def test_candidate_centers_carry_their_county_and_a_center_only_near_has_no_share(
    router: Router,
) -> None:
    decision = route(router, Point(39.1204, -94.60703))
    assert decision["candidates"] == [
        {"center_id": "kc-kansas", "share": 1.0, "county_fips": "20209"},
        {"center_id": "kc-missouri", "share": 0.0, "county_fips": "29047"},
    ]


def test_a_point_a_kilometre_from_every_line_names_one_county(router: Router) -> None:
    decision = route(router, Point(38.9717, -95.2353))  # Lawrence, KS
    assert decision["county_candidates"] == ["20045"]
    assert decision["ambiguous"] is False
    assert "near the" not in str(decision["explanation"])


def test_an_uncertainty_circle_lists_the_counties_within_it_and_the_tolerance(
    router: Router,
) -> None:
    decision = route(router, Point(39.03, -94.6075, 300.0))  # on the KS/MO state line
    candidates = decision["county_candidates"]
    assert isinstance(candidates, list)
    assert candidates[0] == decision["county_fips"]
    assert {"20091", "29095"} <= set(candidates)
    assert decision["ambiguous"] is True


def test_a_shape_far_from_any_line_has_one_candidate_county(router: Router) -> None:
    decision = route(router, Shape(circle(38.9717, -95.2353, 200.0), "circle ±200 m"))
    assert decision["county_candidates"] == ["20045"]


def test_a_point_just_off_the_maps_shoreline_is_placed_in_the_county_it_is_beside(
    router: Router, county_index: CountyIndex
) -> None:
    monroe = county_index.geometries[county_index.layer.index_of("12087")]  # the Florida Keys
    coords = shapely.get_coordinates(monroe)
    lon, lat = coords[np.argmin(coords[:, 1])]  # its southernmost point
    decision = route(router, Point(lat - 0.001, lon))  # about 110 m out to sea
    assert decision["county_fips"] == "12087"
    assert decision["county_candidates"] == ["12087"]
    assert "just outside the county map's lines" in str(decision["explanation"])


def test_a_point_far_out_at_sea_is_in_no_county(router: Router) -> None:
    decision = route(router, Point(24.0, -81.8))  # about 60 km south of Key West
    assert decision["county_fips"] is None
    assert decision["county_candidates"] == []


@pytest.mark.slow
def test_the_shipped_prebuilt_index_is_the_one_this_code_would_build(
    county_index: CountyIndex,
) -> None:
    grid = county_index.layer.grid
    assert grid is not None
    fresh = build_grid(county_index.geometries, grid.tolerance_m)
    assert (fresh.x0, fresh.y0, fresh.nx, fresh.ny) == (grid.x0, grid.y0, grid.nx, grid.ny)
    assert np.array_equal(fresh.coarse, grid.coarse)
    assert np.array_equal(fresh.fine, grid.fine)
    assert np.array_equal(fresh.offsets, grid.offsets)
    assert np.array_equal(fresh.counties, grid.counties)
