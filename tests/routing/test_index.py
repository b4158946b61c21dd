"""The spatial index gives exactly the brute-force answer, fast path or not."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.counties import CountyLayer
from routing.index import NO_COUNTY, CountyIndex
from routing.shapes import circle

# Whole-US sweeps share one index; hypothesis must not treat the session fixture as a problem.
PROPERTY = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def fips_of(layer: CountyLayer, index: int) -> str | None:
    return None if index == NO_COUNTY else layer.counties[index].fips


def test_every_county_interior_maps_to_its_own_fips(
    county_layer: CountyLayer, county_index: CountyIndex
) -> None:
    inner = shapely.point_on_surface(county_index.geometries)
    x, y = shapely.get_x(inner), shapely.get_y(inner)
    batch = county_index.locate_many(x, y)
    wrong = [
        (county.fips, fips_of(county_layer, int(got)), fips_of(county_layer, one))
        for i, (county, got, one) in enumerate(
            zip(
                county_layer.counties,
                batch,
                (county_index.locate(float(a), float(b)) for a, b in zip(x, y, strict=True)),
                strict=True,
            )
        )
        if got != i or one != i
    ]
    assert wrong == []


def test_known_places_fall_in_their_counties(
    county_layer: CountyLayer, county_index: CountyIndex
) -> None:
    places = {
        (39.1141, -94.6275): "20209",  # Kansas City, Kansas: Wyandotte County
        (39.0997, -94.5786): "29095",  # Kansas City, Missouri: Jackson County
        (38.9717, -95.2353): "20045",  # Lawrence: Douglas County, KS
        (38.6270, -90.1994): "29510",  # St. Louis city
        (40.7128, -74.0060): "36061",  # Manhattan: New York County
        (61.2181, -149.9003): "02020",  # Anchorage
        (21.3069, -157.8583): "15003",  # Honolulu
        (18.4655, -66.1057): "72127",  # San Juan, PR
    }
    for (lat, lon), fips in places.items():
        assert fips_of(county_layer, county_index.locate(lon, lat)) == fips, (lat, lon)


def test_points_at_sea_or_abroad_have_no_county(county_index: CountyIndex) -> None:
    assert county_index.locate(-40.0, 30.0) == NO_COUNTY  # mid-Atlantic
    assert county_index.locate(-100.0, 55.0) == NO_COUNTY  # Manitoba
    assert county_index.locate(170.0, -40.0) == NO_COUNTY  # New Zealand, beyond the grid


@PROPERTY
@given(lon=st.floats(-180.0, -60.0), lat=st.floats(15.0, 72.0))
def test_index_agrees_with_brute_force_anywhere_in_and_near_the_us(
    county_index: CountyIndex, lon: float, lat: float
) -> None:
    expected = county_index.brute_force(lon, lat)
    assert county_index.locate(lon, lat) == expected
    assert county_index.locate_many([lon], [lat])[0] == expected


@st.composite
def points_on_borders(draw: st.DrawFn, index: CountyIndex) -> tuple[float, float]:
    """A vertex of some county, a point on one of its edges, or a hair away from either."""
    county = draw(st.integers(0, len(index.geometries) - 1))
    coords = shapely.get_coordinates(index.geometries[county])
    k = draw(st.integers(0, len(coords) - 2))
    t = draw(st.sampled_from([0.0, 0.5, 0.25, 1.0 / 3.0]))
    x, y = coords[k] + t * (coords[k + 1] - coords[k])
    nudge = draw(st.sampled_from([0.0, 1e-12, -1e-12, 1e-9, -1e-7]))
    return float(x + nudge), float(y - nudge)


@PROPERTY
@given(data=st.data())
def test_points_on_shared_edges_and_vertices_get_one_deterministic_answer(
    county_index: CountyIndex, data: st.DataObject
) -> None:
    lon, lat = data.draw(points_on_borders(county_index))
    first = county_index.locate(lon, lat)
    assert first == county_index.brute_force(lon, lat)
    assert county_index.locate(lon, lat) == first
    assert county_index.locate_many(np.array([lon]), np.array([lat]))[0] == first


def test_a_vertex_shared_by_several_counties_goes_to_the_lowest_fips(
    county_layer: CountyLayer, county_index: CountyIndex
) -> None:
    wyandotte = county_index.geometries[county_layer.index_of("20209")]
    jackson = county_index.geometries[county_layer.index_of("29095")]
    # Vertices both outlines hold (computed crossings of two boundaries need not lie on either).
    shared = {tuple(p) for p in shapely.get_coordinates(wyandotte).tolist()} & {
        tuple(p) for p in shapely.get_coordinates(jackson).tolist()
    }
    assert len(shared) > 0
    for lon, lat in shared:
        covering = [
            county_layer.counties[i].fips
            for i in np.flatnonzero(shapely.intersects_xy(county_index.geometries, lon, lat))
        ]
        assert len(covering) >= 2
        assert fips_of(county_layer, county_index.locate(lon, lat)) == min(covering)


def test_a_circle_across_the_state_line_is_shared_between_both_counties(
    county_layer: CountyLayer, county_index: CountyIndex
) -> None:
    shares, outside = county_index.overlaps(circle(39.03, -94.6075, 1000.0))
    fips = [county_layer.counties[s.index].fips for s in shares]
    assert set(fips) == {"20091", "29095"}  # Johnson County, KS and Jackson County, MO
    assert abs(sum(s.share for s in shares) + outside - 1.0) < 1e-9
    assert shares[0].share >= shares[1].share
