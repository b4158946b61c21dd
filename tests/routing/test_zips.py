"""ZIP code lookups against the shipped `zipcodes` data set."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.errors import LocationError, UnknownZipError
from routing.zips import ZipInfo, lookup_zip, preload


def test_kansas_city_kansas_zip_is_in_wyandotte_county() -> None:
    info = lookup_zip("66101")

    assert info.zip == "66101"
    assert info.state == "KS"
    assert info.county_name == "Wyandotte County"
    assert info.city == "Kansas City"
    assert info.area_codes == ("913",)
    assert (info.lat, info.lon) == pytest.approx((39.1157, -94.6271))


def test_kansas_city_missouri_zip_is_in_jackson_county() -> None:
    info = lookup_zip("64106")

    assert (info.state, info.county_name) == ("MO", "Jackson County")
    assert (info.lat, info.lon) == pytest.approx((39.1052, -94.5699))


def test_downtown_st_louis_zip_is_in_the_independent_city_not_the_county() -> None:
    info = lookup_zip("63101")

    # St. Louis city is its own county-equivalent, distinct from St. Louis County.
    assert (info.state, info.county_name) == ("MO", "St. Louis city")
    assert info.city == "Saint Louis"
    assert "314" in info.area_codes


def test_zip_plus_four_gives_the_five_digit_zip() -> None:
    assert lookup_zip("66101-1234") == lookup_zip("66101")
    assert lookup_zip("66101-1234").zip == "66101"


def test_surrounding_spaces_are_ignored() -> None:
    assert lookup_zip(" 64106\n") == lookup_zip("64106")


def test_a_zip_plus_four_is_the_same_place_as_its_zip() -> None:
    assert lookup_zip("63101-0001") == lookup_zip("63101")


@pytest.mark.parametrize("zip_code", ["00000", "99999", "99999-0000"])
def test_unknown_zip_raises_unknown_zip_error_naming_it(zip_code: str) -> None:
    with pytest.raises(UnknownZipError, match=f"ZIP code {zip_code[:5]} is not in"):
        lookup_zip(zip_code)


def test_military_zip_with_no_place_on_the_map_is_unknown() -> None:
    with pytest.raises(UnknownZipError, match="military or diplomatic mail"):
        lookup_zip("09001")


def test_a_zip_the_data_set_gives_no_county_is_placed_by_its_centre_point() -> None:
    # 00604 is an Aguadilla, PR post-office-box ZIP: a centre point but no county name.
    info = lookup_zip("00604")

    assert info.state == "PR"
    assert info.county_fips == "72005"  # Aguadilla Municipio


@pytest.mark.parametrize(
    "zip_code",
    [
        "abcde",
        "",
        "6610",
        "661011",
        "661011234",
        "66101-12",
        "66101 1234",
        "66101-abcd",
        "٦٦١٠١",  # Arabic-Indic digits: numeric to Python, never a ZIP
        "66101\n1234",
    ],
)
def test_malformed_zip_is_a_location_error_not_an_unknown_zip(zip_code: str) -> None:
    with pytest.raises(LocationError, match="is not a ZIP code") as caught:
        lookup_zip(zip_code)

    assert not isinstance(caught.value, UnknownZipError)


def test_zip_that_is_not_text_is_a_location_error() -> None:
    with pytest.raises(LocationError, match="must be text"):
        lookup_zip(66101)  # type: ignore[arg-type]


def test_preload_leaves_lookups_unchanged() -> None:
    before = lookup_zip("64106")

    preload()

    assert lookup_zip("64106") == before


# No deadline: whichever example runs first pays for `zipcodes` loading its data set.
@settings(deadline=None)
@given(zip_code=st.from_regex(r"[0-9]{5}(-[0-9]{4})?", fullmatch=True))
def test_any_well_formed_zip_is_found_or_unknown(zip_code: str) -> None:
    try:
        info = lookup_zip(zip_code)
    except UnknownZipError:
        return
    assert isinstance(info, ZipInfo)
    assert info.zip == zip_code[:5]
    assert -90 <= info.lat <= 90 and -180 <= info.lon <= 180


def test_the_shipped_zip_table_agrees_with_the_zipcodes_data_set_it_came_from() -> None:
    import random

    import zipcodes

    records = [r for r in zipcodes.list_all() if float(r["lat"] or 0) != 0.0]
    for record in random.Random(7).sample(records, 500):
        info = lookup_zip(record["zip_code"])
        assert (info.state, info.city) == (record["state"], record["city"])
        assert abs(info.lat - float(record["lat"])) < 1e-4
        assert abs(info.lon - float(record["long"])) < 1e-4
