"""The PSAP API: eligibility from the decision matrix, clear refusals, routing, status."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.adapters.store.privacy import Cipher
from gateway.domain.events import EventKind
from gateway.domain.transfer import TransferStatus
from tests.app.harness import (
    DOUGLAS_KEY,
    ELIGIBLE,
    ENCRYPTION_KEY,
    GATEWAY_NUMBER,
    KANSAS_CITY_KS,
    PUBLIC_URL,
    WYANDOTTE_KEY,
    Harness,
    shows_a_phone_number,
)


def test_an_eligible_request_gets_a_transfer_id_code_center_and_number(harness: Harness) -> None:
    body = harness.register()

    assert body["eligible"] is True
    assert body["transfer_id"].startswith("tr_")
    assert len(body["transfer_code"]) == 6 and body["transfer_code"].isdigit()
    assert body["center"] == {"id": "kc-kansas", "name": "Sample KC Kansas Crisis Line"}
    assert body["explanation"].startswith("Wyandotte County, KS (point ±50 m) → Sample KC")
    assert "by area code 816" in body["explanation"]
    assert body["conference_number"] == GATEWAY_NUMBER
    assert body["dial_plan"] == ["kc-kansas", "ks-statewide", "national"]
    assert harness.transfer(body["transfer_id"]).status == TransferStatus.PENDING


def test_the_callback_number_lives_only_sealed_in_the_transfer_value_and_coordinates_nowhere(
    harness: Harness,
) -> None:
    body = harness.register()

    keys = [k.decode() for k in harness.redis.scan_iter(match="g988:*")]
    stored = harness.redis.get(f"g988:transfer:{body['transfer_id']}")
    assert stored is not None
    assert not any(shows_a_phone_number(key) for key in keys)
    # The escalation whisper reads it back to 911; it is sealed, and expires with the transfer.
    sealed = harness.transfer(body["transfer_id"]).callback_sealed
    assert Cipher(ENCRYPTION_KEY).decrypt(sealed) == "+18165550123"
    assert b"39.114" not in stored and b"555-0123" not in stored and b"5550123" not in stored
    assert "+18165550123" not in repr(harness.transfer(body["transfer_id"]))
    assert not any(shows_a_phone_number(e.to_json()) for e in harness.sink.events)
    assert 0 < harness.redis.ttl(f"g988:transfer:{body['transfer_id']}") <= 4 * 3600


@pytest.mark.parametrize(
    ("risk", "reason", "message"),
    [
        ("moderate", "moderate-risk", "not eligible: consider mobile crisis dispatch"),
        ("higher", "higher-risk", "not eligible: keep with 911"),
    ],
)
def test_moderate_and_higher_risk_callers_are_not_eligible(
    harness: Harness, risk: str, reason: str, message: str
) -> None:
    response = harness.post_json("/api/v1/transfers", {**ELIGIBLE, "risk": risk})

    assert response.status_code == 422
    assert response.get_json() == {"eligible": False, "reason": reason, "message": message}
    assert harness.kinds() == [EventKind.REQUESTED, EventKind.DECLINED_AT_TRIAGE]
    assert list(harness.redis.scan_iter(match="g988:*")) == []


def test_a_call_type_outside_the_decision_matrix_is_refused_with_its_reason(
    harness: Harness,
) -> None:
    # Wyandotte may transfer mental-health-information calls at low risk only.
    response = harness.post_json(
        "/api/v1/transfers", {**ELIGIBLE, "call_type": "mental-health-information"}
    )

    assert response.status_code == 422
    assert response.get_json()["reason"] == "call-type-not-eligible"
    assert "mental-health-information at mild risk" in response.get_json()["message"]


def test_a_caller_who_has_not_consented_is_refused(harness: Harness) -> None:
    response = harness.post_json("/api/v1/transfers", {**ELIGIBLE, "consent": False})

    assert (response.status_code, response.get_json()["reason"]) == (422, "no-consent")


def test_a_caller_located_where_the_psap_has_no_partnership_is_refused(harness: Harness) -> None:
    # A Douglas County PSAP caller standing in Kansas City, KS: kc-kansas has no
    # agreement with Douglas County 911.
    response = harness.post_json("/api/v1/transfers", ELIGIBLE, key=DOUGLAS_KEY)

    assert response.status_code == 422
    assert response.get_json()["reason"] == "no-partnership"


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"risk": None}, "missing-field", "risk"),
        ({"risk": "severe"}, "invalid-field", "risk"),
        ({"call_type": "Emotional Distress!"}, "invalid-field", "call_type"),
        ({"consent": "yes"}, "invalid-field", "consent"),
        ({"callback_number": "555-0123"}, "invalid-field", "callback_number"),
        ({"location": {"lat": 95, "lon": -94.6}}, "invalid-location", "location"),
        ({"location": {"lat": 39.1}}, "invalid-location", "location.lon"),
        ({"location": {"zip": "661"}}, "invalid-location", "location.zip"),
        ({"location": {"zip": "00000"}}, "unknown-zip", "location.zip"),
        ({"location": {"pidf": "<not-xml"}}, "invalid-location", "location"),
        ({"summary": "x" * 501}, "invalid-field", "summary"),
    ],
)
def test_bad_input_is_a_400_with_a_machine_readable_reason(
    harness: Harness, change: dict[str, Any], reason: str, field: str
) -> None:
    body = {k: v for k, v in {**ELIGIBLE, **change}.items() if v is not None}
    response = harness.post_json("/api/v1/transfers", body)

    assert response.status_code == 400
    assert (response.get_json()["error"], response.get_json()["field"]) == (reason, field)


def test_a_body_that_is_not_json_is_a_400(harness: Harness) -> None:
    response = harness.client().post(
        "/api/v1/transfers",
        data="risk=low",
        headers={"Authorization": f"Bearer {WYANDOTTE_KEY}"},
        base_url=PUBLIC_URL,
    )

    assert (response.status_code, response.get_json()["error"]) == (400, "invalid-json")


@pytest.mark.parametrize("header", ["", "Bearer nope-not-a-key-at-all", f"Basic {WYANDOTTE_KEY}"])
def test_a_request_without_a_valid_psap_key_is_a_401(harness: Harness, header: str) -> None:
    response = harness.client().post(
        "/api/v1/transfers", json=ELIGIBLE, headers={"Authorization": header}
    )

    assert (response.status_code, response.get_json()["error"]) == (401, "unauthorized")
    assert harness.kinds() == []


def test_the_status_shows_the_live_state_to_its_own_psap_only(harness: Harness) -> None:
    body = harness.register()
    path = f"/api/v1/transfers/{body['transfer_id']}"

    own = harness.client().get(path, headers={"Authorization": f"Bearer {WYANDOTTE_KEY}"})
    other = harness.client().get(path, headers={"Authorization": f"Bearer {DOUGLAS_KEY}"})

    assert own.status_code == 200
    assert own.get_json()["status"] == "pending"
    assert own.get_json()["county"] == "Wyandotte County, KS"
    assert other.status_code == 404


def test_the_route_endpoint_answers_without_registering_anything(harness: Harness) -> None:
    response = harness.post_json(
        "/api/v1/route", {"location": KANSAS_CITY_KS, "callback_number": "+18165550123"}
    )

    assert response.status_code == 200
    decision = response.get_json()
    assert (decision["center_id"], decision["area_code_center_id"]) == ("kc-kansas", "kc-missouri")
    assert list(harness.redis.scan_iter(match="g988:*")) == []


def test_a_request_with_no_location_routes_by_the_psap_area(harness: Harness) -> None:
    body = harness.register(location=None)

    assert body["center"]["id"] == "kc-kansas"
    assert "Sample Wyandotte County 911's own service area" in body["explanation"]


# A well-formed PIDF-LO whose only <location-info> holds a line, which RFC 5491 has no shape
# for: the call-taker's transfer still goes through, by the PSAP's own area, and says why.
UNUSABLE_PIDF = (
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"'
    ' xmlns:gml="http://www.opengis.net/gml" entity="pres:caller@example.com">'
    '<tuple id="t1"><status><gp:geopriv><gp:location-info><gml:LineString>'
    "<gml:posList>39.1 -94.6 39.2 -94.7</gml:posList></gml:LineString></gp:location-info>"
    "</gp:geopriv></status></tuple></presence>"
)


def test_a_pidf_with_no_usable_location_routes_by_the_psap_area_and_says_why(
    harness: Harness,
) -> None:
    body = harness.register(location={"pidf": UNUSABLE_PIDF})

    assert body["center"]["id"] == "kc-kansas"
    assert "no usable location" in body["explanation"]


@pytest.mark.parametrize(
    "civic",
    [
        {"state": "KS", "county": "Wyandotte", "city": "Kansas City", "street": "Main St"},
        {"zip": "66101", "house_number": "100", "street": "Main St"},
    ],
)
def test_a_civic_address_from_cad_routes_by_its_county_or_zip(
    harness: Harness, civic: dict[str, str]
) -> None:
    response = harness.post_json(
        "/api/v1/route", {"location": {"civic": civic}, "callback_number": "+18165550123"}
    )

    assert response.status_code == 200, response.get_json()
    decision = response.get_json()
    assert (decision["center_id"], decision["method"]) == ("kc-kansas", "civic")


def test_a_civic_address_naming_no_known_county_falls_back_to_the_psap_area_and_says_so(
    harness: Harness,
) -> None:
    response = harness.post_json(
        "/api/v1/route", {"location": {"civic": {"state": "KS", "county": "Nowhere"}}}
    )

    decision = response.get_json()
    assert (response.status_code, decision["method"]) == (200, "psap_area")
    assert "the civic address names no county or ZIP code" in decision["explanation"]


@pytest.mark.parametrize(
    ("civic", "field"),
    [
        ({"county": "Wyandotte"}, "location.civic"),
        ({"zip": "661"}, "location.civic.zip"),
        ({"state": "Kansas", "county": "Wyandotte"}, "location.civic.state"),
        ({"state": "KS", "county": 20209}, "location.civic.county"),
        ({"state": "KS", "county": "Wyandotte", "lat": 39.1}, "location.civic"),
        ("KS, Wyandotte", "location.civic"),
    ],
)
def test_a_civic_address_that_cannot_be_routed_is_a_400_naming_the_field(
    harness: Harness, civic: object, field: str
) -> None:
    response = harness.post_json("/api/v1/transfers", {**ELIGIBLE, "location": {"civic": civic}})

    assert response.status_code == 400
    assert (response.get_json()["error"], response.get_json()["field"]) == (
        "invalid-location",
        field,
    )
