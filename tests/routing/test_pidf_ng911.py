"""PIDF-LO as NG911 sends it, read and routed end to end.

Each document is written for this test, modelled on the example in the RFC named beside it;
callers and devices are fictional.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routing.counties import CountyLayer
from routing.engine import Decision, Router, Snapshot
from routing.errors import LocationError
from routing.index import CountyIndex
from routing.location import LocationQuery, Point
from routing.pidf import parse_pidf
from routing.tables import DEFAULT_TABLES_DIR, load_tables
from tests.routing.test_pidf import pidf

AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
NAMESPACES = """xmlns="urn:ietf:params:xml:ns:pidf"
          xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
          xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
          xmlns:gml="http://www.opengis.net/gml"
          xmlns:gs="http://www.opengis.net/pidflo/1.0"
          xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
          xmlns:con="urn:ietf:params:xml:ns:geopriv:conf"
          entity="pres:caller-3c1d@example.invalid\""""

KANSAS_POINT = "39.1141 -94.6275"  # Kansas City, KS: Wyandotte County
MISSOURI_POINT = "39.0997 -94.5786"  # Kansas City, MO: Jackson County


@pytest.fixture(scope="module")
def router(county_layer: CountyLayer, county_index: CountyIndex) -> Router:
    return Router(
        Snapshot(county_layer, county_index, load_tables(DEFAULT_TABLES_DIR, county_layer))
    )


def route(router: Router, document: str, psap_id: str | None = None) -> Decision:
    found = parse_pidf(document)
    query = LocationQuery(
        geo=found.geo, civic=found.civic, psap_id=psap_id, notes=found.notes, at=AT
    )
    return router.route(query)


def point(pos: str, srs: str = "urn:ogc:def:crs:EPSG::4326") -> str:
    return f'<gml:Point srsName="{srs}"><gml:pos>{pos}</gml:pos></gml:Point>'


def geopriv(location: str, method: str = "GPS") -> str:
    return f"""<gp:geopriv>
        <gp:location-info>{location}</gp:location-info>
        <gp:usage-rules/>
        <gp:method>{method}</gp:method>
      </gp:geopriv>"""


def tuple_document(location: str) -> str:
    """A document with one <tuple> whose location-info holds `location`."""
    return pidf(location)


def test_the_device_wins_over_a_person_listed_before_it(router: Router) -> None:
    # RFC 5491 §3.4 / RFC 4479: a <dm:person> and a <dm:device>; the device is where the
    # phone is, so it wins even though the person comes first in the document.
    document = f"""<?xml version="1.0"?>
<presence {NAMESPACES}>
  <dm:person id="p1">{geopriv(point(MISSOURI_POINT), "Manual")}</dm:person>
  <dm:device id="d1">{geopriv(point(KANSAS_POINT))}<dm:deviceID>mac:8asd7d7d70</dm:deviceID>
  </dm:device>
</presence>"""

    decision = route(router, document)

    assert decision.county_fips == "20209"
    assert decision.center_id == "kc-kansas"


def test_a_tuple_comes_before_a_person_but_after_a_device() -> None:
    document = f"""<?xml version="1.0"?>
<presence {NAMESPACES}>
  <dm:person id="p1">{geopriv(point("38.0 -97.0"))}</dm:person>
  <tuple id="t1"><status>{geopriv(point(MISSOURI_POINT))}</status></tuple>
  <dm:device id="d1">{geopriv(point(KANSAS_POINT))}</dm:device>
</presence>"""

    assert parse_pidf(document).geo == Point(39.1141, -94.6275)
    without_device = document.replace(
        f'<dm:device id="d1">{geopriv(point(KANSAS_POINT))}</dm:device>', ""
    )
    assert parse_pidf(without_device).geo == Point(39.0997, -94.5786)


def test_a_point_in_a_gml_location_wrapper_is_used_before_the_civic_address(
    router: Router,
) -> None:
    # RFC 6442 §4.4's example wraps the device's point in <gml:location>, beside a civic
    # address; the point must not be dropped for the address.
    document = f"""<?xml version="1.0"?>
<presence {NAMESPACES}>
  <dm:device id="target123-1">
    {geopriv(f"<gml:location>{point(KANSAS_POINT)}</gml:location>")}
    <dm:deviceID>mac:1234567890ab</dm:deviceID>
  </dm:device>
  <dm:device id="target123-2">
    {
        geopriv(
            "<ca:civicAddress><ca:country>US</ca:country><ca:A1>MO</ca:A1>"
            "<ca:A2>Jackson</ca:A2><ca:PC>64106</ca:PC></ca:civicAddress>",
            "Manual",
        )
    }
  </dm:device>
</presence>"""

    decision = route(router, document)

    assert decision.method == "point"
    assert decision.county_fips == "20209"


@pytest.mark.parametrize(
    ("srs", "pos"),
    [
        ("urn:ogc:def:crs:EPSG::4326", "39.11 -94.63"),
        ("urn:ogc:def:crs:EPSG:4326", "39.11 -94.63"),  # RFC 5222's example spelling
        ("EPSG:4326", "39.11 -94.63"),
        ("http://www.opengis.net/def/crs/EPSG/0/4326", "39.11 -94.63"),
        ("urn:ogc:def:crs:EPSG::4979", "39.11 -94.63 256.4"),
        ("urn:ogc:def:crs:EPSG:4979", "39.11 -94.63 256.4"),
        ("EPSG:4979", "39.11 -94.63 256.4"),
        ("http://www.opengis.net/def/crs/EPSG/0/4979", "39.11 -94.63 256.4"),
    ],
)
def test_every_epsg_spelling_in_use_is_read_as_wgs84(srs: str, pos: str) -> None:
    assert parse_pidf(tuple_document(point(pos, srs))).geo == Point(39.11, -94.63)


def test_a_3d_circle_in_the_single_colon_spelling_keeps_its_radius() -> None:
    circle = (
        '<gs:Sphere srsName="urn:ogc:def:crs:EPSG:4979"><gml:pos>39.11 -94.63 256.4</gml:pos>'
        '<gs:radius uom="urn:ogc:def:uom:EPSG::9001">40</gs:radius></gs:Sphere>'
    )
    assert parse_pidf(tuple_document(circle)).geo == Point(39.11, -94.63, 40.0)


def test_an_rfc_4119_civic_loc_document_is_read_and_routed(router: Router) -> None:
    # Modelled on RFC 4119 §2.2.4's example: the civicLoc namespace's <cl:civilAddress>.
    document = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
          xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
          xmlns:cl="urn:ietf:params:xml:ns:pidf:geopriv10:civicLoc"
          xmlns:gml="urn:opengis:specification:gml:schema-xsd:feature:v3.0"
          entity="pres:caller-91aa@example.invalid">
  <tuple id="sg89ae">
    <status>
      <gp:geopriv>
        <gp:location-info>
          <cl:civilAddress>
            <cl:country>US</cl:country>
            <cl:A1>KS</cl:A1>
            <cl:A2>Wyandotte</cl:A2>
            <cl:A3>Kansas City</cl:A3>
            <cl:HNO>701</cl:HNO>
            <cl:NAM>Sample Building</cl:NAM>
            <cl:PC>66101</cl:PC>
          </cl:civilAddress>
        </gp:location-info>
        <gp:usage-rules>
          <gp:retransmission-allowed>no</gp:retransmission-allowed>
        </gp:usage-rules>
      </gp:geopriv>
    </status>
    <timestamp>2026-11-25T18:00:00Z</timestamp>
  </tuple>
</presence>"""

    found = parse_pidf(document)

    assert found.civic is not None
    assert (found.civic.state, found.civic.county, found.civic.postal_code) == (
        "KS",
        "Wyandotte",
        "66101",
    )
    assert route(router, document).county_fips == "20209"


def test_rfc_4119_degrees_minutes_seconds_are_read_with_their_hemispheres() -> None:
    location = (
        '<gml:location><gml:Point gml:id="point1" srsName="epsg:4326">'
        "<gml:coordinates>39:06:50.8N 94:37:39W</gml:coordinates></gml:Point></gml:location>"
    )
    geo = parse_pidf(tuple_document(location)).geo
    assert isinstance(geo, Point)
    assert (round(geo.lat, 4), round(geo.lon, 4)) == (39.1141, -94.6275)


def test_bare_gml_2_coordinates_are_refused_as_ambiguous() -> None:
    location = (
        '<gml:Point srsName="epsg:4326"><gml:coordinates>-94.6,39.1</gml:coordinates></gml:Point>'
    )
    with pytest.raises(LocationError, match="use <gml:pos>"):
        parse_pidf(tuple_document(location))


@pytest.mark.parametrize("postal_code", ["6610", "00000", "KS 66101"])
def test_an_unusable_postal_code_is_routed_by_state_and_county_with_a_note(
    router: Router, postal_code: str
) -> None:
    civic = (
        "<ca:civicAddress><ca:country>US</ca:country><ca:A1>KS</ca:A1>"
        f"<ca:A2>Wyandotte</ca:A2><ca:PC>{postal_code}</ca:PC></ca:civicAddress>"
    )

    decision = route(router, tuple_document(civic))

    assert decision.method == "civic"
    assert decision.county_fips == "20209"
    assert any("postal code" in note and "state and county" in note for note in decision.notes)


def test_an_unusable_postal_code_and_unknown_county_fall_back_to_the_psap_area(
    router: Router,
) -> None:
    psap = next(iter(router.tables.psaps.values()))
    civic = (
        "<ca:civicAddress><ca:A1>KS</ca:A1><ca:A2>Nowhere</ca:A2>"
        "<ca:PC>6610</ca:PC></ca:civicAddress>"
    )

    decision = route(router, tuple_document(civic), psap_id=psap.id)

    assert decision.method == "psap_area"
    assert any("postal code '6610' is unusable" in note for note in decision.notes)


def test_a_document_with_nothing_usable_falls_back_to_the_psap_area_with_a_note(
    router: Router,
) -> None:
    psap = next(iter(router.tables.psaps.values()))
    line = "<gml:LineString><gml:posList>39.1 -94.6 39.2 -94.7</gml:posList></gml:LineString>"

    decision = route(router, tuple_document(line), psap_id=psap.id)

    assert decision.method == "psap_area"
    assert any("no usable location" in note for note in decision.notes)
    assert "no usable location" in decision.explanation


def test_a_circle_at_a_stated_confidence_is_used_as_given_and_reported(router: Router) -> None:
    # RFC 7459 §5: <con:confidence pdf="normal">67</con:confidence> beside the shape.
    circle = (
        '<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>38.9717 -95.2353</gml:pos>'
        '<gs:radius uom="urn:ogc:def:uom:EPSG::9001">850</gs:radius></gs:Circle>'
        '<con:confidence pdf="normal">67</con:confidence>'
    )

    geo = parse_pidf(tuple_document(circle)).geo
    decision = route(router, tuple_document(circle))

    assert geo == Point(38.9717, -95.2353, 850.0, confidence=67.0)  # not rescaled to 95 %
    assert decision.location_confidence == 67.0
    assert "±850 m at 67 % confidence" in decision.explanation


def test_a_confidence_beyond_a_hundred_percent_is_refused() -> None:
    location = point(KANSAS_POINT) + "<con:confidence>120</con:confidence>"
    with pytest.raises(LocationError, match="not a percentage"):
        parse_pidf(tuple_document(location))


def test_a_polygon_across_the_antimeridian_is_routed_to_the_aleutians(router: Router) -> None:
    # Over Semisopochnoi Island (Aleutians West Census Area, AK), corners either side of 180°.
    ring = "51.90 179.60 51.90 -179.95 52.00 -179.95 52.00 179.60 51.90 179.60"
    polygon = (
        '<gml:Polygon srsName="urn:ogc:def:crs:EPSG::4326"><gml:exterior><gml:LinearRing>'
        f"<gml:posList>{ring}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>"
    )

    decision = route(router, tuple_document(polygon))

    assert decision.county_fips == "02016"


def test_a_circle_across_the_antimeridian_is_split_not_refused(router: Router) -> None:
    # Centred just west of 180°, 30 km across: it reaches Semisopochnoi's eastern shore.
    circle = (
        '<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>51.95 179.999</gml:pos>'
        '<gs:radius uom="urn:ogc:def:uom:EPSG::9001">30000</gs:radius></gs:Circle>'
    )
    decision = route(router, tuple_document(circle))
    assert decision.county_fips == "02016"
