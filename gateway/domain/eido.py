"""A transfer as a NENA Emergency Incident Data Object (EIDO, NENA-STA-021.1).

`eido_document` turns a transfer and plain values (the agencies, what the reader may see of
the caller) into the JSON document a CAD or a center's system reads; it decides nothing
about who may read what (the view and `disclosed` do) and talks to nothing. The document's
shape is NENA's published OpenAPI schema; tests/app/test_eido.py validates every ready
scenario's document against the part of it derived by scripts/derive_eido_schema.py.

Where the schema names a registry the reference copy does not include (call states, agency
roles, location and incident types), the values are the ones NENA's sample uses
("callAnswered", "CallReceiving", "psap") or plain words a reader can act on; the
gateway's own words (status, outcome, call type) go in the `...Internal...` fields.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.domain.transfer import Transfer, TransferStatus
from routing.model import CenterShare, LocationPrecision
from routing.states import state_abbr

EIDO_VERSION = "1.0"
# The IANA call states closest to each transfer status ("callBegin": the call exists and
# no agent has it yet; "callAnswered": an agent, counselor or 911, has the caller).
CALL_STATES = {
    TransferStatus.PENDING: "callBegin",
    TransferStatus.DIALING: "callBegin",
    TransferStatus.CONNECTED: "callAnswered",
    TransferStatus.RETURNED: "callAnswered",
    TransferStatus.ABANDONED: "callEnd",
    TransferStatus.ENDED: "callEnd",
}
# RFC 5139 civic address elements, in PIDF-LO order, by the names `Place.civic` uses.
CIVIC_ELEMENTS = ("country", "A1", "A2", "A3", "RD", "HNO", "PC")
_NS = {
    "pidf": "urn:ietf:params:xml:ns:pidf",
    "gp": "urn:ietf:params:xml:ns:pidf:geopriv10",
    "ca": "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr",
    "gml": "http://www.opengis.net/gml",
    "gs": "http://www.opengis.net/pidflo/1.0",
}
for _prefix, _uri in _NS.items():
    # PIDF's own elements are written in the default namespace, as RFC 4119's examples are.
    ET.register_namespace("" if _prefix == "pidf" else _prefix, _uri)
_WGS84 = "urn:ogc:def:crs:EPSG::4326"
_METRE = "urn:ogc:def:uom:EPSG::9001"


@dataclass(frozen=True)
class Agency:
    """A PSAP or 988 center as the document names it."""

    id: str
    name: str
    kind: str  # "psap" or "center"


@dataclass(frozen=True)
class Place:
    """Where the caller is: a position (with its uncertainty) and/or civic address elements
    keyed by their RFC 5139 names (country, A1, A2, A3, RD, HNO, PC)."""

    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    civic: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> Place | None:
        """The place sealed in the live state (`gateway.services.intake.place_json`)."""
        if not text:
            return None
        raw = json.loads(text)
        return cls(raw.get("lat"), raw.get("lon"), raw.get("radius_m"), raw.get("civic", {}))


@dataclass(frozen=True)
class Disclosed:
    """What the reader may see of the caller: "" or None where it may not (or is unknown)."""

    callback_number: str = ""
    summary: str = ""
    place: Place | None = None
    precision: LocationPrecision = LocationPrecision.NONE


def disclosed(
    transfer: Transfer, share: CenterShare, callback: str, summary: str, place: Place | None
) -> Disclosed:
    """Keep of the caller's details only what `share` lets the reader see; the location at
    the precision it allows (the county when the exact place is not known)."""
    located, precision = _located(transfer, place, share.location)
    return Disclosed(
        callback_number=callback if share.callback_number else "",
        summary=summary if share.summary else "",
        place=located,
        precision=precision,
    )


def _located(
    transfer: Transfer, place: Place | None, allowed: LocationPrecision
) -> tuple[Place | None, LocationPrecision]:
    if allowed is LocationPrecision.NONE:
        return None, LocationPrecision.NONE
    if allowed is LocationPrecision.EXACT and place is not None:
        return place, LocationPrecision.EXACT
    county = _county(transfer)
    return county, LocationPrecision.COUNTY if county else LocationPrecision.NONE


def _county(transfer: Transfer) -> Place | None:
    if not transfer.county_fips or not transfer.county_name:
        return None
    state = state_abbr(transfer.county_fips)
    # Routing names counties as "Wyandotte County, KS"; A2 is the county alone.
    county = transfer.county_name.removesuffix(f", {state}")
    civic = {"country": "US", "A1": state, "A2": county}
    return Place(civic={k: v for k, v in civic.items() if v})


# -- the document --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ids:
    """The `$id` of each component of one transfer's document."""

    issuer: str
    transfer_id: str

    def of(self, kind: str) -> str:
        return f"urn:emergency:uid:{kind}id:{self.transfer_id}:{self.issuer}"

    def agency(self, agency: Agency) -> str:
        return f"{agency.id}.{agency.kind}.{self.issuer}"


def eido_document(
    transfer: Transfer,
    psap: Agency,
    center: Agency | None,
    shown: Disclosed,
    issuer: str,
    now: float,
) -> dict[str, Any]:
    """The EIDO of `transfer` as of `now`, issued by the gateway `issuer` (a host name).

    Args:
        psap: the PSAP that transferred the caller (the document's owning agency).
        center: the center that has (or is being offered) the caller, if any yet.
        shown: the caller's details the reader may see.
    """
    ids = _Ids(issuer, transfer.id)
    owner = ids.agency(psap)
    stamp = _iso(now)
    agencies = [_agency(ids, psap, owner, stamp, True)]
    if center is not None:
        agencies.append(_agency(ids, center, owner, stamp, False))
    document: dict[str, Any] = {
        **_prologue(ids.of("incident"), owner, stamp),
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": issuer,
        "incidentComponent": _incident(transfer, ids, owner, stamp, shown),
        "callComponent": [_call(transfer, ids, owner, stamp, shown, agencies)],
        "agencyComponent": agencies,
    }
    if shown.callback_number:
        document["callbackComponent"] = [_callback(ids, owner, stamp, shown.callback_number)]
    if shown.place is not None:
        document["locationComponent"] = [_location(transfer, ids, owner, stamp, shown)]
    if shown.summary:
        document["notesComponent"] = [_notes(ids, owner, stamp, shown.summary)]
    return document


def _prologue(component_id: str, owner: str, stamp: str) -> dict[str, Any]:
    return {
        "$id": component_id,
        "lastUpdateTimeStamp": stamp,
        "updatedByAgencyReference": {"$ref": owner},
    }


def _refs(*ids: str) -> list[dict[str, str]]:
    return [{"$ref": i} for i in ids]


def _incident(
    transfer: Transfer, ids: _Ids, owner: str, stamp: str, shown: Disclosed
) -> dict[str, Any]:
    incident: dict[str, Any] = {
        **_prologue(ids.of("incident") + ":incident", owner, stamp),
        "incidentTypeCommonRegistryText": "Behavioral Health",
        "incidentStatusInternalText": _states(transfer),
        "internalIncidentId": transfer.id,
    }
    if transfer.call_type:
        incident["incidentTypeInternalCode"] = transfer.call_type
        incident["incidentTypeInternalText"] = transfer.call_type.replace("-", " ")
    if transfer.risk:
        incident["incidentPriorityInternalText"] = f"{transfer.risk} risk"
    if shown.place is not None:
        incident["locationReference"] = _refs(ids.of("location"))
    if shown.summary:
        incident["notesReference"] = _refs(ids.of("notes"))
    return incident


def _states(transfer: Transfer) -> list[str]:
    """The transfer's state in the gateway's words: status, outcome, escalation."""
    states = [f"transfer {transfer.status.value}"]
    if transfer.outcome:
        states.append(f"outcome {transfer.outcome}")
    if transfer.escalation is not None:
        states.append(f"escalation to 911 {transfer.escalation.status.value}")
    return states


def _call(
    transfer: Transfer,
    ids: _Ids,
    owner: str,
    stamp: str,
    shown: Disclosed,
    agencies: list[dict[str, Any]],
) -> dict[str, Any]:
    call: dict[str, Any] = {
        **_prologue(ids.of("call"), owner, stamp),
        "standardPrimaryCallType": "emergency",
        "direction": "incoming",
        "callStartTimestamp": _iso(transfer.arrived_at or transfer.created_at),
        "callStateRegistryText": CALL_STATES[transfer.status],
        "agencyReference": _refs(*(a["$id"] for a in agencies)),
    }
    if transfer.call_type:
        call["localCallType"] = transfer.call_type
    answered = _accepted_at(transfer)
    if answered is not None:
        call["answerDate"] = _iso(answered)
    if shown.callback_number:
        call["callBackReference"] = {"$ref": ids.of("callback")}
    if shown.place is not None:
        call["locationReference"] = _refs(ids.of("location"))
    if shown.summary:
        call["notesReference"] = _refs(ids.of("notes"))
    return call


def _accepted_at(transfer: Transfer) -> float | None:
    """When a counselor accepted the caller, from the transfer's own timeline."""
    steps = (s for s in transfer.history if s.get("kind") == "whisper_accepted")
    step = next(steps, None)
    return float(step["at"]) if step is not None else None


def _agency(ids: _Ids, agency: Agency, owner: str, stamp: str, owning: bool) -> dict[str, Any]:
    return {
        **_prologue(ids.agency(agency), owner, stamp),
        "agencyJcard": json.dumps(
            ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", agency.name]]]
        ),
        "agencyRoleDescriptionRegistryText": ["CallReceiving"],
        "agencyType": ["psap" if agency.kind == "psap" else "mental_health"],
        "incidentOwningAgencyIndicator": owning,
    }


def _callback(ids: _Ids, owner: str, stamp: str, number: str) -> dict[str, Any]:
    return {
        **_prologue(ids.of("callback"), owner, stamp),
        "callBackInformationUri": [f"tel:{number}"],
    }


def _notes(ids: _Ids, owner: str, stamp: str, summary: str) -> dict[str, Any]:
    # notesActionComments is HTML5: the call-taker's text is escaped, never markup.
    text = summary.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {**_prologue(ids.of("notes"), owner, stamp), "notesActionComments": text}


def _location(
    transfer: Transfer, ids: _Ids, owner: str, stamp: str, shown: Disclosed
) -> dict[str, Any]:
    assert shown.place is not None
    return {
        **_prologue(ids.of("location"), owner, stamp),
        "locationTypeDescriptionRegistryText": "Caller",
        "locationByValue": pidf_lo(shown.place, f"pres:{transfer.id}@{ids.issuer}", stamp),
        "locationDescriptionText": f"caller's location, {shown.precision.value} precision",
    }


def pidf_lo(place: Place, entity: str, stamp: str) -> str:
    """`place` as a PIDF-LO document (RFC 4119, RFC 5491 shapes, RFC 5139 civic address)."""
    root = ET.Element(_q("pidf", "presence"), {"entity": entity})
    tuple_ = ET.SubElement(root, _q("pidf", "tuple"), {"id": "caller"})
    status = ET.SubElement(tuple_, _q("pidf", "status"))
    geopriv = ET.SubElement(status, _q("gp", "geopriv"))
    info = ET.SubElement(geopriv, _q("gp", "location-info"))
    _geodetic(info, place)
    if place.civic:
        civic = ET.SubElement(info, _q("ca", "civicAddress"))
        for name in CIVIC_ELEMENTS:
            if place.civic.get(name):
                ET.SubElement(civic, _q("ca", name)).text = place.civic[name]
    ET.SubElement(geopriv, _q("gp", "usage-rules"))
    ET.SubElement(tuple_, _q("pidf", "timestamp")).text = stamp
    return ET.tostring(root, encoding="unicode")


def _geodetic(info: ET.Element, place: Place) -> None:
    if place.lat is None or place.lon is None:
        return
    pos = f"{place.lat:.6f} {place.lon:.6f}"
    if place.radius_m:
        circle = ET.SubElement(info, _q("gs", "Circle"), {"srsName": _WGS84})
        ET.SubElement(circle, _q("gml", "pos")).text = pos
        radius = ET.SubElement(circle, _q("gs", "radius"), {"uom": _METRE})
        radius.text = f"{place.radius_m:.0f}"
    else:
        point = ET.SubElement(info, _q("gml", "Point"), {"srsName": _WGS84})
        ET.SubElement(point, _q("gml", "pos")).text = pos


def _q(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()
