"""A caller's location from a PIDF-LO document, as NG911 hands it over.

A PIDF-LO (RFC 4119) is a presence document whose <gp:geopriv> elements, inside a <tuple>,
<dm:device> or <dm:person> (RFC 4479), each carry one or more <gp:location-info>. A
location-info holds a geodetic shape (RFC 5491, bare or in RFC 4119's <gml:location>
wrapper), a civic address (RFC 5139, or RFC 4119's older civicLoc), or both, and may state
its confidence (RFC 7459). Locations are taken in RFC 5491's order: every <dm:device> first
(it is where the phone is), then <tuple>, then <dm:person>, document order within each; the
first usable shape and the first usable civic address win.

A well-formed PIDF-LO that holds nothing usable is not an error: it comes back empty with a
note, so routing can fall back to the transferring PSAP's area and say why.

The document comes from another network, so it is parsed as hostile: size-capped, with DTDs,
entities and external references refused, and every number checked before it becomes a
`Point` or `Shape`. Each refusal is a `LocationError` that says what was wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeVar
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from shapely.geometry import Polygon

from routing import shapes
from routing.errors import LocationError
from routing.location import MAX_RADIUS_M, Civic, Point, Shape

PIDF = "urn:ietf:params:xml:ns:pidf"
GP = "urn:ietf:params:xml:ns:pidf:geopriv10"
GML = "http://www.opengis.net/gml"
GS = "http://www.opengis.net/pidflo/1.0"
CA = "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"
CL = "urn:ietf:params:xml:ns:pidf:geopriv10:civicLoc"  # RFC 4119's civic format
DM = "urn:ietf:params:xml:ns:pidf:data-model"
CON = "urn:ietf:params:xml:ns:geopriv:conf"

# Real PIDF-LOs are a few kilobytes; even a 200-corner polygon stays under 16 KiB. The cap
# bounds parse time and memory whatever a sender puts in the body.
MAX_DOCUMENT_BYTES = 64 * 1024

# RFC 5491 allows only WGS 84: EPSG 4326 (lat lon) and EPSG 4979 (lat lon altitude). OGC's
# CRS84 is deliberately not matched: it is longitude first and would swap every coordinate.
# Spellings in use: "urn:ogc:def:crs:EPSG::4326" (RFC 5491), "urn:ogc:def:crs:EPSG:4326"
# (RFC 5222's example), "urn:ogc:def:crs:EPSG:6.6:4326", the http URI, and RFC 4119's
# "epsg:4326".
_CRS = re.compile(
    r"(?:urn:ogc:def:crs:EPSG:(?:[\d.]*:)?|https?://www\.opengis\.net/def/crs/EPSG/[\d.]+/|EPSG:)"
    r"(\d+)",
    re.IGNORECASE,
)
_WGS84_DIMENSIONS = {"4326": 2, "4979": 3}

_UOM = re.compile(
    r"(?:urn:ogc:def:uom:EPSG:[\d.]*:|https?://www\.opengis\.net/def/uom/EPSG/[\d.]+/)(\d+)"
)
# EPSG unit codes whose meaning is fixed, so converting them cannot guess wrong.
_METRES_PER_UNIT = {
    "9001": 1.0,  # metre, the unit RFC 5491 requires
    "9002": 0.3048,  # international foot
    "9003": 1200.0 / 3937.0,  # US survey foot
    "9036": 1000.0,  # kilometre
}
_DEGREES_PER_UNIT = {
    "9102": 1.0,  # degree, the unit RFC 5491 requires
    "9122": 1.0,  # degree (supplier to define representation)
    "9101": 180.0 / math.pi,  # radian
}

T = TypeVar("T")


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


@dataclass(frozen=True)
class PidfLocation:
    """What a PIDF-LO says about where the caller is.

    Attributes:
        geo: the first usable shape; a circle or sphere is a `Point` with its radius.
        civic: the first usable civic address.
        method: how the location was found, from <gp:method> ("GPS", "Cell", "Manual"...).
        notes: why geo and civic are both None, when they are (for LocationQuery.notes).
    """

    geo: Point | Shape | None
    civic: Civic | None
    method: str | None = None
    notes: tuple[str, ...] = ()


def parse_pidf(document: bytes | str) -> PidfLocation:
    """Reads the caller's location from a PIDF-LO document.

    Args:
        document: the PIDF-LO XML, at most `MAX_DOCUMENT_BYTES` long.

    Returns:
        The first usable geodetic shape and the first usable civic address (devices first,
        see the module docstring); both None, with a note, when there is none.

    Raises:
        LocationError: the document is too big, not well-formed, declares a DTD or entities,
            is not a PIDF, or holds a shape with impossible values (latitude beyond ±90, NaN,
            a negative radius, an unknown unit or CRS, a confidence beyond 100 %).
    """
    root = _parse_xml(document)
    if root.tag != _q(PIDF, "presence"):
        raise LocationError(
            f"not a PIDF-LO document: the root element is <{_local(root.tag)}>, not <presence>"
        )
    infos = [
        (info, _method(geopriv))
        for holder in sorted(root, key=_precedence)
        for geopriv in holder.iter(_q(GP, "geopriv"))
        for info in geopriv.iterfind(_q(GP, "location-info"))
    ]
    geo: Point | Shape | None
    geo, geo_method = _first(infos, _geo_in)
    civic, civic_method = _first(infos, _civic_in)
    if geo is None and civic is None:
        return PidfLocation(None, None, notes=(_no_location_message([i for i, _ in infos]),))
    return PidfLocation(
        geo=geo, civic=civic, method=geo_method if geo is not None else civic_method
    )


def _parse_xml(document: bytes | str) -> Element:
    if not isinstance(document, bytes | str):
        raise LocationError(f"a PIDF-LO must be bytes or str, not {type(document).__name__}")
    # Measure characters first so an enormous string is refused without encoding a copy.
    size = len(document)
    if size <= MAX_DOCUMENT_BYTES and isinstance(document, str):
        size = len(document.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise LocationError(
            f"PIDF-LO refused: over {MAX_DOCUMENT_BYTES} bytes, far more than any real location"
        )
    try:
        root: Element = DefusedET.fromstring(
            document, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DTDForbidden as exc:
        raise LocationError(
            "PIDF-LO refused: it declares a DTD (<!DOCTYPE>), which PIDF-LO never needs and "
            "which is how entity-expansion and external-file attacks work"
        ) from exc
    except (EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise LocationError("PIDF-LO refused: it declares entities or external references") from exc
    except ParseError as exc:
        raise LocationError(f"PIDF-LO is not well-formed XML: {exc}") from exc
    except (ValueError, LookupError) as exc:  # undecodable text, unknown encoding
        raise LocationError(f"PIDF-LO could not be read as XML: {exc}") from exc
    return root


def _first(
    infos: list[tuple[Element, str | None]], parse: Callable[[Element], T | None]
) -> tuple[T | None, str | None]:
    for info, method in infos:
        found = parse(info)
        if found is not None:
            return found, method
    return None, None


# RFC 5491: a device's location is the phone's own; a person's may be where they said they
# are. Python's sort is stable, so document order holds within each kind.
_PRECEDENCE = {_q(DM, "device"): 0, _q(PIDF, "tuple"): 1, _q(DM, "person"): 2}


def _precedence(element: Element) -> int:
    return _PRECEDENCE.get(element.tag, 3)


def _method(geopriv: Element) -> str | None:
    return _text(geopriv.find(_q(GP, "method")))


def _no_location_message(infos: list[Element]) -> str:
    if not infos:
        return "the PIDF-LO has no location: it holds no <gp:location-info>"
    seen = sorted({f"<{_local(child.tag)}>" for info in infos for child in info})
    found = ", ".join(seen) if seen else "nothing"
    return (
        "the PIDF-LO has no usable location: no <gp:location-info> holds an RFC 5491 shape "
        f"or a civic address with any field (found {found})"
    )


# Geodetic shapes (RFC 5491 §5.2). A malformed shape is an error rather than skipped: a
# latitude of 95 most likely means a sender swapped or garbled coordinates, and routing on
# a later, different location in the same document would hide that.


def _geo_in(info: Element) -> Point | Shape | None:
    for child in _unwrapped(info):
        parse = _SHAPES.get(child.tag)
        if parse is not None:
            return _with_confidence(parse(child), info)
    return None


def _unwrapped(info: Element) -> list[Element]:
    """The location-info's children, with RFC 4119's <gml:location> wrapper opened."""
    children: list[Element] = []
    for child in info:
        children.extend(list(child) if child.tag == _q(GML, "location") else [child])
    return children


def _with_confidence(geo: Point | Shape, info: Element) -> Point | Shape:
    """The shape with its RFC 7459 confidence, used as given: never rescaled to 95 %."""
    element = info.find(_q(CON, "confidence"))
    if element is None:
        return geo
    confidence = _number((element.text or "").strip() or "?", "confidence")
    if not 0 < confidence <= 100:
        raise LocationError(f"confidence {confidence:g} is not a percentage in (0, 100]")
    return replace(geo, confidence=confidence)


def _point(element: Element) -> Point:
    lat, lon = _centre(element, "point")
    return Point(lat, lon)


def _circle(element: Element, kind: str) -> Point:
    """A circle, or a sphere seen from above; the routing engine draws the circle itself."""
    lat, lon = _centre(element, kind)
    return Point(lat, lon, _length(element.find(_q(GS, "radius")), f"{kind} radius"))


def _ellipse(element: Element, kind: str) -> Shape:
    """An ellipse, or the footprint of an ellipsoid (its vertical axis does not matter here)."""
    lat, lon = _centre(element, kind)
    major = _length(element.find(_q(GS, "semiMajorAxis")), f"{kind} semi-major axis")
    minor = _length(element.find(_q(GS, "semiMinorAxis")), f"{kind} semi-minor axis")
    orientation = _angle(element.find(_q(GS, "orientation")), f"{kind} orientation")
    if major <= 0 or minor <= 0:
        raise LocationError(f"{kind} axes must be positive, got {major:g} m and {minor:g} m")
    polygon = shapes.ellipse(lat, lon, major, minor, orientation)
    return _shape(polygon, f"{kind} {major:.0f}×{minor:.0f} m")


def _polygon(element: Element, kind: str = "polygon", dimension: int | None = None) -> Shape:
    dimension = _dimension(element) or dimension
    exterior = element.find(f"{_q(GML, 'exterior')}/{_q(GML, 'LinearRing')}")
    if exterior is None:
        raise LocationError(f"{kind} has no <gml:exterior><gml:LinearRing>")
    shell = _ring(exterior, kind, dimension)
    interiors = element.iterfind(f"{_q(GML, 'interior')}/{_q(GML, 'LinearRing')}")
    holes = [_ring(ring, kind, dimension) for ring in interiors]
    return _shape(Polygon(shell, holes), kind)


def _prism(element: Element) -> Shape:
    """A prism seen from above is its base polygon; its height does not matter here."""
    base = element.find(f"{_q(GS, 'base')}/{_q(GML, 'Polygon')}")
    if base is None:
        raise LocationError("prism has no <gs:base><gml:Polygon>")
    return _polygon(base, "prism", _dimension(element))


def _arc_band(element: Element) -> Shape:
    lat, lon = _centre(element, "arc band")
    inner = _length(element.find(_q(GS, "innerRadius")), "arc band inner radius")
    outer = _length(element.find(_q(GS, "outerRadius")), "arc band outer radius")
    start = _angle(element.find(_q(GS, "startAngle")), "arc band start angle")
    opening = _angle(element.find(_q(GS, "openingAngle")), "arc band opening angle")
    if outer <= inner:
        raise LocationError(
            f"arc band outer radius {outer:g} m is not beyond its inner radius {inner:g} m"
        )
    if not 0 < opening <= 360:
        raise LocationError(f"arc band opening angle {opening:g}° is not within (0, 360]")
    return _shape(_arc_band_polygon(lat, lon, inner, outer, start, opening), "arc band")


def _shape(polygon: Polygon, description: str) -> Shape:
    """A Shape, split in two when it crosses ±180° longitude."""
    if not polygon.is_valid:
        return Shape(polygon, description)  # refused there, with the reason
    return Shape(shapes.across_antimeridian(polygon), description)


def _arc_band_polygon(
    lat: float, lon: float, inner: float, outer: float, start: float, opening: float
) -> Polygon:
    """The ring sector between two radii, angles clockwise from north (RFC 5491 §5.2.5)."""
    if opening >= 360:
        # A full turn is an annulus; a sector polygon would touch itself along the seam.
        holes = [shapes.circle(lat, lon, inner).exterior.coords] if inner > 0 else []
        return Polygon(shapes.circle(lat, lon, outer).exterior.coords, holes)
    steps = max(2, math.ceil(shapes.DEFAULT_SEGMENTS * opening / 360))
    bearings = [start + opening * i / steps for i in range(steps + 1)]
    outer_arc = [_offset(lat, lon, outer, bearing) for bearing in bearings]
    if inner == 0:
        return Polygon([*outer_arc, (lon, lat)])
    inner_arc = [_offset(lat, lon, inner, bearing) for bearing in reversed(bearings)]
    return Polygon(outer_arc + inner_arc)


def _offset(lat: float, lon: float, distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """(lon, lat) `distance_m` from a point, in the same local projection as routing.shapes."""
    theta = math.radians(bearing_deg)
    north, east = distance_m * math.cos(theta), distance_m * math.sin(theta)
    return (
        lon + east / shapes.metres_per_degree_lon(lat),
        lat + north / shapes.METRES_PER_DEGREE_LAT,
    )


_SHAPES: dict[str, Callable[[Element], Point | Shape]] = {
    _q(GML, "Point"): _point,
    _q(GS, "Circle"): partial(_circle, kind="circle"),
    _q(GS, "Sphere"): partial(_circle, kind="sphere"),
    _q(GS, "Ellipse"): partial(_ellipse, kind="ellipse"),
    _q(GS, "Ellipsoid"): partial(_ellipse, kind="ellipsoid"),
    _q(GML, "Polygon"): _polygon,
    _q(GS, "Prism"): _prism,
    _q(GS, "ArcBand"): _arc_band,
}


# Positions and measures.


def _dimension(element: Element) -> int | None:
    """Numbers per position from the element's srsName; None when the sender left it out."""
    srs = element.get("srsName")
    if srs is None:
        return None  # RFC 5491 requires srsName, but a sender that omits it means WGS 84
    match = _CRS.fullmatch(srs.strip())
    if match is None or match.group(1) not in _WGS84_DIMENSIONS:
        raise LocationError(
            f"coordinates in {srs!r}: only WGS 84 (EPSG 4326 or 4979) is understood"
        )
    return _WGS84_DIMENSIONS[match.group(1)]


def _centre(element: Element, kind: str) -> tuple[float, float]:
    coordinates = element.find(_q(GML, "coordinates"))
    if element.find(_q(GML, "pos")) is None and coordinates is not None:
        return _sexagesimal(coordinates.text, kind)
    return _position(element.find(_q(GML, "pos")), kind, _dimension(element))


# RFC 4119's example point: <gml:coordinates>37:46:30N 122:25:10W</gml:coordinates>.
_DMS = re.compile(r"(\d{1,3}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)([NSEW])", re.IGNORECASE)


def _sexagesimal(text: str | None, kind: str) -> tuple[float, float]:
    """(lat, lon) from RFC 4119's degrees:minutes:seconds with hemisphere letters.

    Only that form is read: GML 2's bare "x,y" coordinates do not say which is latitude.
    """
    values: dict[str, float] = {}
    for token in (text or "").split():
        match = _DMS.fullmatch(token)
        if match is None:
            raise LocationError(
                f"{kind} coordinates {(text or '').strip()!r}: only RFC 4119's "
                "'37:46:30N 122:25:10W' form is understood; use <gml:pos>"
            )
        d, m, sec, hemisphere = match.groups()
        value = int(d) + int(m) / 60 + float(sec) / 3600
        axis = "lat" if hemisphere.upper() in "NS" else "lon"
        values[axis] = -value if hemisphere.upper() in "SW" else value
    if set(values) != {"lat", "lon"}:
        raise LocationError(f"{kind} coordinates need one latitude (N/S) and one longitude (E/W)")
    return _lat_lon(values["lat"], values["lon"], kind)


def _position(pos: Element | None, kind: str, dimension: int | None) -> tuple[float, float]:
    """(lat, lon) of a gml:pos, which is "latitude longitude [altitude]"."""
    if pos is None:
        raise LocationError(f"{kind} has no <gml:pos>")
    numbers = _numbers(pos.text, f"{kind} position")
    allowed = (dimension,) if dimension else (2, 3)
    if len(numbers) not in allowed:
        raise LocationError(
            f"{kind} position {(pos.text or '').strip()!r} must be latitude and longitude"
            + (" and altitude" if dimension == 3 else "")
        )
    return _lat_lon(numbers[0], numbers[1], kind)


def _ring(ring: Element, kind: str, dimension: int | None) -> list[tuple[float, float]]:
    """(lon, lat) corners of a gml:LinearRing given as one gml:posList or several gml:pos."""
    pos_list = ring.find(_q(GML, "posList"))
    if pos_list is None:
        corners = [_position(pos, kind, dimension) for pos in ring.iterfind(_q(GML, "pos"))]
    else:
        corners = _pos_list(pos_list, kind, dimension)
    distinct = len(set(corners))
    if distinct < 3:
        raise LocationError(f"{kind} needs at least 3 distinct corners, got {distinct}")
    return [(lon, lat) for lat, lon in corners]


def _pos_list(pos_list: Element, kind: str, dimension: int | None) -> list[tuple[float, float]]:
    step = _srs_dimension(pos_list, kind) or dimension or 2
    numbers = _numbers(pos_list.text, f"{kind} posList")
    if len(numbers) % step:
        raise LocationError(
            f"{kind} posList has {len(numbers)} numbers, not a whole number of {step}-D positions"
        )
    return [_lat_lon(numbers[i], numbers[i + 1], kind) for i in range(0, len(numbers), step)]


def _srs_dimension(element: Element, kind: str) -> int | None:
    value = element.get("srsDimension")
    if value is None:
        return None
    if value.strip() not in ("2", "3"):
        raise LocationError(f"{kind} srsDimension {value!r} is not 2 or 3")
    return int(value)


def _lat_lon(lat: float, lon: float, kind: str) -> tuple[float, float]:
    try:
        point = Point(lat, lon)
    except LocationError as exc:
        raise LocationError(f"{kind}: {exc}") from None
    return point.lat, point.lon


def _numbers(text: str | None, what: str) -> list[float]:
    tokens = (text or "").split()
    if not tokens:
        raise LocationError(f"{what} is empty")
    return [_number(token, what) for token in tokens]


def _number(token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise LocationError(f"{what}: {token!r} is not a number") from None
    if not math.isfinite(value):
        raise LocationError(f"{what}: {token!r} is not a finite number")
    return value


def _length(element: Element | None, what: str) -> float:
    """A length in metres, within what can still point at a county."""
    metres = _measure(element, what, _METRES_PER_UNIT, "length")
    if metres < 0:
        raise LocationError(f"{what} {metres:g} m is negative")
    if metres > MAX_RADIUS_M:
        raise LocationError(
            f"{what} {metres:.0f} m is over {MAX_RADIUS_M:.0f} m: too coarse to locate a county"
        )
    return metres


def _angle(element: Element | None, what: str) -> float:
    """An angle in degrees."""
    return _measure(element, what, _DEGREES_PER_UNIT, "angle")


def _measure(element: Element | None, what: str, units: Mapping[str, float], kind: str) -> float:
    if element is None:
        raise LocationError(f"{what} is missing")
    text = (element.text or "").strip()
    if not text:
        raise LocationError(f"{what} is empty")
    value = _number(text, what)
    uom = element.get("uom")
    if uom is None:
        # RFC 5491 allows one unit per measure (metres, degrees), so no unit can mean only that.
        return value
    match = _UOM.fullmatch(uom.strip())
    if match is None or match.group(1) not in units:
        raise LocationError(f"{what}: unit {uom!r} is not a {kind} unit this gateway knows")
    return value * units[match.group(1)]


# Civic addresses (RFC 5139, and RFC 4119's civicLoc with the same field names).

# RFC 4119 spelled its element <cl:civilAddress>; some senders use civicAddress in that
# namespace too.
_CIVIC_ELEMENTS = (_q(CA, "civicAddress"), _q(CL, "civilAddress"), _q(CL, "civicAddress"))


def _civic_in(info: Element) -> Civic | None:
    address = next((c for c in _unwrapped(info) if c.tag in _CIVIC_ELEMENTS), None)
    if address is None:
        return None
    fields = _civic_fields(address)
    country = fields.get("country")
    civic = Civic(
        country=country.upper() if country else None,
        state=fields.get("A1"),
        county=fields.get("A2"),
        city=fields.get("A3"),
        street=_street(fields),
        house_number=_house_number(fields),
        postal_code=fields.get("PC"),
    )
    return None if civic == Civic() else civic


def _civic_fields(address: Element) -> dict[str, str]:
    """Element name -> text, whitespace collapsed; the first wins when a field repeats.

    RFC 5139 lets a field repeat in several languages (xml:lang); the first is the sender's
    primary one.
    """
    fields: dict[str, str] = {}
    prefix = address.tag.partition("}")[0] + "}"
    for child in address:
        text = " ".join((child.text or "").split())
        if child.tag.startswith(prefix) and text:
            fields.setdefault(child.tag.removeprefix(prefix), text)
    return fields


def _street(fields: Mapping[str, str]) -> str | None:
    """'Old N Main St E': modifiers, directions and suffix around the road name (RD)."""
    if "RD" not in fields:
        return None
    parts = (fields.get(name) for name in ("PRM", "PRD", "RD", "STS", "POD", "POM"))
    return " ".join(part for part in parts if part)


def _house_number(fields: Mapping[str, str]) -> str | None:
    """HNO with its suffix: '123A', or '123 1/2' for a fraction."""
    number, suffix = fields.get("HNO"), fields.get("HNS")
    if number is None or suffix is None:
        return number
    return f"{number} {suffix}" if "/" in suffix else f"{number}{suffix}"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(element: Element | None) -> str | None:
    text = " ".join((element.text or "").split()) if element is not None else ""
    return text or None
