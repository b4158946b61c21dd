"""What an escalation whisper says about where the caller is."""

from __future__ import annotations

from shapely.geometry import Point as ShapelyPoint

from gateway.services.intake import spoken_location
from routing.location import Civic, Point, Shape


def test_a_street_address_is_said_before_anything_else() -> None:
    civic = Civic(state="KS", city="Kansas City", street="N 7th St", house_number="701")

    assert spoken_location(Point(39.1141, -94.6275, 50), civic) == "701 N 7th St, Kansas City, KS"


def test_a_point_is_said_to_four_decimals_with_its_uncertainty() -> None:
    assert spoken_location(Point(39.114149, -94.62751, 49.6), None) == (
        "latitude 39.1141, longitude -94.6275, within 50 meters"
    )
    assert spoken_location(Point(39.1141, -94.6275), None) == "latitude 39.1141, longitude -94.6275"


def test_an_area_is_said_as_its_centre_and_how_far_it_reaches() -> None:
    # A circle of about 300 m around the point, drawn in degrees at this latitude.
    circle = ShapelyPoint(-94.6275, 39.1141).buffer(0.0027, 64)
    spoken = spoken_location(Shape(circle, "circle ±300 m"), None)

    assert spoken.startswith("latitude 39.1141, longitude -94.6275, within about ")
    reach = int(spoken.split("about ")[1].split(" ")[0])
    assert 290 <= reach <= 310  # 0.0027° of latitude is 298 m


def test_a_zip_code_is_said_digit_by_digit_and_the_psap_area_not_at_all() -> None:
    assert spoken_location(None, Civic(postal_code="66101")) == "ZIP code 6 6 1 0 1"
    assert spoken_location(None, None) == ""
    assert spoken_location(None, Civic(state="KS", county="Wyandotte")) == ""
