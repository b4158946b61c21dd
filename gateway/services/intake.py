"""What a PSAP sends to ask for a transfer, checked before anything is routed or dialed.

Two kinds of "no": `InputError` (the request itself is malformed: HTTP 400) and `Refusal`
(the request is well formed but this caller may not transfer: HTTP 422). Both carry a
machine-readable `reason` and a sentence a call-taker can read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from routing.areacode import parse_e164
from routing.errors import LocationError, RoutingError, UnknownZipError
from routing.location import Civic, LocationQuery, Point, Shape
from routing.model import TRANSFERABLE_RISKS, Risk, RoutingTables
from routing.pidf import parse_pidf
from routing.shapes import METRES_PER_DEGREE_LAT, metres_per_degree_lon

MAX_SUMMARY = 500
_CALL_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_STATE = re.compile(r"^[A-Za-z]{2}$")


class InputError(ValueError):
    """A malformed request. `reason` is machine-readable; `field` names the culprit."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.field = reason, message, field

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.reason, "message": self.message, "field": self.field}


@dataclass(frozen=True)
class Refusal:
    """A well-formed request for a caller who may not transfer, and why."""

    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"eligible": False, "reason": self.reason, "message": self.message}


@dataclass(frozen=True)
class TransferRequest:
    """A PSAP's transfer request, validated."""

    risk: Risk
    call_type: str
    consent: bool
    geo: Point | Shape | None = None
    civic: Civic | None = None
    callback_number: str | None = None
    language: str | None = None
    veteran: bool = False
    summary: str = ""
    location_notes: tuple[str, ...] = ()

    def query(self, psap_id: str) -> LocationQuery:
        """The routing question this request asks."""
        return LocationQuery(
            geo=self.geo,
            civic=self.civic,
            notes=self.location_notes,
            psap_id=psap_id,
            caller=self.callback_number,
            language=self.language,
            veteran=self.veteran,
        )


def parse_request(body: object) -> TransferRequest:
    """Validate a decoded JSON body into a TransferRequest.

    Raises:
        InputError: the first problem found, naming the field.
    """
    data = _object(body)
    geo, civic, notes = parse_location(data.get("location"))
    return TransferRequest(
        risk=_risk(data.get("risk")),
        call_type=_call_type(data.get("call_type")),
        consent=_bool(data, "consent", required=True),
        geo=geo,
        civic=civic,
        location_notes=notes,
        callback_number=_callback(data.get("callback_number")),
        language=_language(data.get("language")),
        veteran=_bool(data, "veteran", required=False),
        summary=_summary(data.get("summary")),
    )


def parse_route_query(body: object) -> LocationQuery:
    """A routing-only question: location, and optionally callback number, language, veteran.

    Raises:
        InputError: the first problem found, naming the field.
    """
    data = _object(body)
    geo, civic, notes = parse_location(data.get("location"))
    return LocationQuery(
        geo=geo,
        civic=civic,
        notes=notes,
        caller=_callback(data.get("callback_number")),
        language=_language(data.get("language")),
        veteran=_bool(data, "veteran", required=False),
    )


class ReadLocation(NamedTuple):
    """A request's location: a position, a civic address, and what reading it showed.

    `notes` says why a PIDF-LO gave neither (the decision then says it routed by the
    PSAP's area because of that), as routing.pidf reports it.
    """

    geo: Point | Shape | None = None
    civic: Civic | None = None
    notes: tuple[str, ...] = ()


def parse_location(value: object) -> ReadLocation:
    """A location given as {lat, lon, radius_m}, {pidf}, {zip}, {civic}, or null (unknown).

    Raises:
        InputError: an impossible or unreadable location.
    """
    if value is None:
        return ReadLocation()
    if not isinstance(value, dict):
        raise InputError("invalid-location", "location must be an object or null", "location")
    try:
        return _location(value)
    except LocationError as exc:
        raise InputError("invalid-location", str(exc), "location") from None


def _location(value: dict[str, Any]) -> ReadLocation:
    kinds = [k for k in ("lat", "pidf", "zip", "civic") if k in value]
    if len(kinds) != 1:
        raise InputError(
            "invalid-location", "give exactly one of lat/lon, pidf, zip or civic", "location"
        )
    if kinds[0] == "lat":
        return ReadLocation(geo=_point(value))
    if kinds[0] == "civic":
        return ReadLocation(civic=_civic(value["civic"]))
    if kinds[0] == "pidf":
        if not isinstance(value["pidf"], str):
            raise InputError("invalid-location", "pidf must be the XML text", "location.pidf")
        parsed = parse_pidf(value["pidf"])
        return ReadLocation(parsed.geo, parsed.civic, parsed.notes)
    return ReadLocation(civic=Civic(postal_code=_zip(value["zip"], "location.zip")))


def _zip(value: object, field: str) -> str:
    """A ZIP or ZIP+4 code, as the 5-digit ZIP the routing core looks up."""
    if not isinstance(value, str) or not _ZIP.match(value):
        raise InputError("invalid-location", "zip must be a 5-digit ZIP code", field)
    return value[:5]


# A civic address as a CAD system holds it; the names follow RFC 5139 loosely.
_CIVIC_FIELDS = {
    "country": "country",
    "state": "state",
    "county": "county",
    "city": "city",
    "street": "street",
    "house_number": "house_number",
    "zip": "postal_code",
}


def _civic(value: object) -> Civic:
    """{state, county, city?, street?, house_number?, zip?, country?}: routed by its ZIP
    code, else by its state and county (as the routing core does with a PIDF-LO civic)."""
    if not isinstance(value, dict):
        raise InputError("invalid-location", "civic must be an object", "location.civic")
    unknown = sorted(set(value) - set(_CIVIC_FIELDS))
    if unknown:
        raise InputError(
            "invalid-location", f"civic has unknown fields: {', '.join(unknown)}", "location.civic"
        )
    fields: dict[str, str] = {}
    for name, attribute in _CIVIC_FIELDS.items():
        text = value.get(name)
        if text is None:
            continue
        if not isinstance(text, str) or not text.strip() or len(text) > 100:
            raise InputError("invalid-location", f"{name} must be text", f"location.civic.{name}")
        fields[attribute] = text.strip()
    state = fields.get("state")
    if state is not None and not _STATE.match(state):
        # A full name would never match the county layer, and route by the PSAP's area.
        raise InputError(
            "invalid-location", "state must be a two-letter code like KS", "location.civic.state"
        )
    if "postal_code" in fields:
        fields["postal_code"] = _zip(fields["postal_code"], "location.civic.zip")
    elif not ("state" in fields and "county" in fields):
        raise InputError(
            "invalid-location",
            "a civic address needs a zip, or a state and a county",
            "location.civic",
        )
    return Civic(**fields)


def _point(value: dict[str, Any]) -> Point:
    lat, lon, radius = value.get("lat"), value.get("lon"), value.get("radius_m")
    for name, number in (("lat", lat), ("lon", lon), ("radius_m", radius)):
        if name == "radius_m" and number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise InputError("invalid-location", f"{name} must be a number", f"location.{name}")
    assert isinstance(lat, int | float) and isinstance(lon, int | float)
    metres = None if radius is None else _float("radius_m", radius)
    return Point(_float("lat", lat), _float("lon", lon), metres)


def _float(name: str, number: int | float) -> float:
    """The number as a float; one too large for a float (a 400-digit integer) is refused."""
    try:
        return float(number)
    except OverflowError:
        message = f"{name} is out of range"
        raise InputError("invalid-location", message, f"location.{name}") from None


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InputError("invalid-json", "the body must be a JSON object")
    return body


def _risk(value: object) -> Risk:
    if value is None:
        raise InputError("missing-field", "risk is required: low, mild, moderate or higher", "risk")
    try:
        return Risk(str(value))
    except ValueError:
        raise InputError(
            "invalid-field", "risk must be low, mild, moderate or higher", "risk"
        ) from None


def _call_type(value: object) -> str:
    if value is None:
        raise InputError("missing-field", "call_type is required", "call_type")
    if not isinstance(value, str) or not _CALL_TYPE.match(value):
        raise InputError(
            "invalid-field", "call_type is a name like emotional-distress", "call_type"
        )
    return value


def _bool(data: dict[str, Any], name: str, *, required: bool) -> bool:
    value = data.get(name)
    if value is None and not required:
        return False
    if not isinstance(value, bool):
        raise InputError(
            "missing-field" if value is None else "invalid-field",
            f"{name} must be true or false",
            name,
        )
    return value


def spoken_location(geo: Point | Shape | None, civic: Civic | None) -> str:
    """Where the caller is, as a 911 call-taker should hear it if the counselor escalates:
    the street address when one was given, else the position and how far off it may be,
    else the ZIP code; "" when only the PSAP's area is known."""
    if civic is not None and civic.street:
        street = " ".join(p for p in (civic.house_number, civic.street) if p)
        return ", ".join(p for p in (street, civic.city, civic.state) if p)
    if isinstance(geo, Point):
        where = f"latitude {geo.lat:.4f}, longitude {geo.lon:.4f}"
        return f"{where}, within {round(geo.radius_m)} meters" if geo.radius_m else where
    if isinstance(geo, Shape):
        centre = geo.geometry.centroid
        where = f"latitude {centre.y:.4f}, longitude {centre.x:.4f}"
        return f"{where}, within about {_reach_m(geo)} meters"
    if civic is not None and civic.postal_code:
        return "ZIP code " + " ".join(civic.postal_code)
    return ""


def _reach_m(shape: Shape) -> int:
    """How far the shape reaches from its centroid, in metres, rounded to 10 m (a local
    flat-earth approximation: the shapes are at most tens of kilometres across)."""
    centre = shape.geometry.centroid
    per_lon = metres_per_degree_lon(centre.y)
    reach = max(
        math.hypot((x - centre.x) * per_lon, (y - centre.y) * METRES_PER_DEGREE_LAT)
        for x, y in shape.geometry.exterior.coords
    )
    return max(10, int(round(reach, -1)))


def place_json(geo: Point | Shape | None, civic: Civic | None) -> str:
    """Where the caller is, as the EIDO's PIDF-LO gives it (`gateway.domain.eido.Place`):
    the position with its uncertainty (a shape as its centroid and reach) and the civic
    address by RFC 5139 element names; "" when nothing is known. Sealed, like the rest."""
    place: dict[str, Any] = {}
    if isinstance(geo, Point):
        place.update(lat=geo.lat, lon=geo.lon, radius_m=geo.radius_m)
    elif isinstance(geo, Shape):
        centre = geo.geometry.centroid
        place.update(lat=centre.y, lon=centre.x, radius_m=_reach_m(geo))
    if civic is not None:
        elements = {
            "country": civic.country,
            "A1": civic.state,
            "A2": civic.county,
            "A3": civic.city,
            "RD": civic.street,
            "HNO": civic.house_number,
            "PC": civic.postal_code,
        }
        place["civic"] = {name: value for name, value in elements.items() if value}
    return json.dumps(place) if any(place.values()) else ""


def keyed_callback(digits: str) -> str | None:
    """A callback number keyed on a phone keypad (10 digits, or 11 starting with 1), as E.164.

    None when it is not a valid North American number: a call-taker's keypad has no "+".
    """
    if not digits.isdigit() or len(digits) not in (10, 11):
        return None
    if len(digits) == 11 and not digits.startswith("1"):
        return None
    number = "+1" + digits[-10:]
    try:
        parse_e164(number)
    except RoutingError:
        return None
    return number


def _callback(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError("invalid-field", "callback_number must be text", "callback_number")
    try:
        parse_e164(value)
    except RoutingError:
        raise InputError(
            "invalid-field", "callback_number must be an E.164 number", "callback_number"
        ) from None
    return value


def _language(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _LANGUAGE.match(value.lower()):
        raise InputError("invalid-field", "language is a two-letter code like es", "language")
    return value.lower()


def _summary(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError("invalid-field", "summary must be text", "summary")
    if len(value) > MAX_SUMMARY:
        raise InputError(
            "invalid-field", f"summary is limited to {MAX_SUMMARY} characters", "summary"
        )
    return value.strip()


def triage_refusal(request: TransferRequest) -> Refusal | None:
    """The refusal the triage fields alone call for (before any routing), if any."""
    if request.risk == Risk.HIGHER:
        return Refusal("higher-risk", "not eligible: keep with 911")
    if request.risk == Risk.MODERATE:
        return Refusal("moderate-risk", "not eligible: consider mobile crisis dispatch")
    if not request.consent:
        return Refusal("no-consent", "not eligible: the caller has not agreed to the transfer")
    return None


def partnership_refusal(
    tables: RoutingTables, psap_id: str, center_ids: tuple[str, ...], request: TransferRequest
) -> Refusal | None:
    """Check the decision matrix between the PSAP and the first center that has one.

    `center_ids` are the chosen center, then the center serving the location: a caller
    sent to a specialty line is covered by that line's partnership, or else the local one.
    """
    for center_id in center_ids:
        partnership = tables.partnerships.get((psap_id, center_id))
        if partnership is None:
            continue
        if partnership.allows(request.call_type, request.risk):
            return None
        return Refusal(
            "call-type-not-eligible",
            f"not eligible: {request.call_type} at {request.risk.value} risk is not in the "
            f"decision matrix with {tables.centers[center_id].name}",
        )
    return _no_agreement(tables, center_ids)


def agreement_refusal(
    tables: RoutingTables, psap_id: str, center_ids: tuple[str, ...]
) -> Refusal | None:
    """A keyed transfer (a ZIP code or # on the call) carries no triage to check: keying it
    is the call-taker's own eligibility decision. It still needs a transfer agreement
    between the PSAP and the chosen center or the center serving the location."""
    if any((psap_id, center_id) in tables.partnerships for center_id in center_ids):
        return None
    return _no_agreement(tables, center_ids)


def _no_agreement(tables: RoutingTables, center_ids: tuple[str, ...]) -> Refusal:
    names = " or ".join(tables.centers[c].name for c in dict.fromkeys(center_ids))
    return Refusal("no-partnership", f"not eligible: no transfer agreement with {names}")


def unknown_zip(exc: UnknownZipError) -> InputError:
    """A ZIP code the gateway does not know, as an input error."""
    return InputError("unknown-zip", str(exc), "location.zip")


def psap_profile(tables: RoutingTables, psap_id: str, conference_number: str) -> dict[str, Any]:
    """What a PSAP's call-taker tools need before a transfer: which call types may transfer
    at which risk levels (the union over its partnerships' decision matrices) and with whom,
    and the number to conference callers to."""
    psap = tables.psaps[psap_id]
    partnerships = sorted(
        (p for (owner, _), p in tables.partnerships.items() if owner == psap_id),
        key=lambda p: p.center_id,
    )
    allowed: dict[str, set[str]] = {}
    for partnership in partnerships:
        for call_type, risks in partnership.call_types.items():
            allowed.setdefault(call_type, set()).update(r.value for r in risks & TRANSFERABLE_RISKS)
    order = [r.value for r in Risk]
    return {
        "psap": {"id": psap.id, "name": psap.name},
        "conference_number": conference_number,
        "call_types": {
            call_type: sorted(risks, key=order.index)
            for call_type, risks in sorted(allowed.items())
            if risks
        },
        "partners": [
            {"center_id": p.center_id, "center_name": tables.centers[p.center_id].name}
            for p in partnerships
            if p.center_id in tables.centers
        ],
    }
