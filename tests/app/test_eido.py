"""GET /api/v1/transfers/<id>/eido: a transfer as NENA's EIDO, valid against NENA's schema,
with what each partnership shares and only for the PSAP and the accepting center."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from carrier_sim.scenario import load_scenario
from tests.app.harness import (
    ACCEPTS,
    DOUGLAS_KEY,
    KC_KANSAS,
    KC_KANSAS_CENTER_KEY,
    KS_STATEWIDE,
    KS_STATEWIDE_CENTER_KEY,
    PUBLIC_URL,
    WYANDOTTE_KEY,
    Harness,
    line,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
# The part of NENA's EIDO OpenAPI schema a gateway document uses, derived from NENA's files
# by scripts/derive_eido_schema.py (the files themselves stay out of the repository).
SCHEMA = json.loads((Path(__file__).parent / "eido_schema.json").read_text(encoding="utf-8"))
VALIDATOR = OAS30Validator(
    {"$ref": f"#/schemas/{SCHEMA['root']}", "schemas": SCHEMA["schemas"]},
    format_checker=OAS30Validator.FORMAT_CHECKER,
)
# The scenario the demo plays starts from a transfer the PSAP registered through the API.
REGISTERED_FIRST = {"gateway-kansas-city-demo.yaml"}


def eido(harness: Harness, transfer_id: str, key: str) -> Any:
    return harness.client().get(
        f"/api/v1/transfers/{transfer_id}/eido",
        headers={"Authorization": f"Bearer {key}"},
        base_url=PUBLIC_URL,
    )


def problems(document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(document)]


def transfer_ids(harness: Harness) -> list[str]:
    return list(dict.fromkeys(e.transfer_id for e in harness.sink.events if e.transfer_id))


def accepted_center_key(harness: Harness, transfer_id: str) -> str | None:
    accepted = harness.transfer(transfer_id).accepted()
    keys = {"kc-kansas": KC_KANSAS_CENTER_KEY, "ks-statewide": KS_STATEWIDE_CENTER_KEY}
    return keys.get(accepted.center_id) if accepted else None


def exact_transfer(harness: Harness) -> str:
    """An API transfer the Kansas center accepted (its partnership shares everything)."""
    transfer_id: str = harness.register()["transfer_id"]
    harness.play([line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)])
    return transfer_id


def rolled_over_transfer(harness: Harness) -> str:
    """An API transfer the statewide line accepted after the Kansas center did not answer:
    Wyandotte has no partnership with the statewide line, which gets the least."""
    transfer_id: str = harness.register()["transfer_id"]
    harness.play(
        [
            line(KC_KANSAS, "kc-kansas", outcome="no-answer"),
            line(KS_STATEWIDE, "ks-statewide", answer=5, actions=ACCEPTS),
        ]
    )
    return transfer_id


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    (only,) = document[name]
    found: dict[str, Any] = only
    return found


@pytest.mark.parametrize("scenario", sorted(p.name for p in SCENARIOS.glob("gateway-*.yaml")))
def test_every_ready_scenario_s_eido_validates_against_nena_s_schema(
    harness: Harness, scenario: str
) -> None:
    if scenario in REGISTERED_FIRST:
        harness.register()
    harness.sim.run(load_scenario(SCENARIOS / scenario))
    ids = transfer_ids(harness)
    assert ids, f"{scenario} made no transfer"
    for transfer_id in ids:
        readers = [WYANDOTTE_KEY, accepted_center_key(harness, transfer_id)]
        for key in filter(None, readers):
            response = eido(harness, transfer_id, key)
            assert response.status_code == 200, (scenario, response.get_json())
            assert problems(response.get_json()) == [], scenario


def test_the_schema_check_refuses_a_document_nena_s_schema_refuses(harness: Harness) -> None:
    document = eido(harness, exact_transfer(harness), WYANDOTTE_KEY).get_json()
    del document["agencyComponent"]
    document["callComponent"][0]["direction"] = "sideways"
    document["eidoVersion"] = "2.0"

    found = problems(document)

    assert len(found) == 3, found


def test_the_psap_reads_everything_it_gave_with_the_exact_position(harness: Harness) -> None:
    transfer_id = harness.register()["transfer_id"]

    document = eido(harness, transfer_id, WYANDOTTE_KEY).get_json()

    assert component(document, "callbackComponent")["callBackInformationUri"] == [
        "tel:+18165550123"
    ]
    assert "losing a job" in component(document, "notesComponent")["notesActionComments"]
    location = component(document, "locationComponent")["locationByValue"]
    assert "<gml:pos>39.114100 -94.627500</gml:pos>" in location
    assert '<gs:radius uom="urn:ogc:def:uom:EPSG::9001">50</gs:radius>' in location
    assert document["incidentComponent"]["incidentStatusInternalText"] == ["transfer pending"]
    assert component(document, "callComponent")["callStateRegistryText"] == "callBegin"
    assert problems(document) == []


def test_a_center_whose_partnership_shares_everything_reads_the_caller_s_details(
    harness: Harness,
) -> None:
    transfer_id = exact_transfer(harness)

    document = eido(harness, transfer_id, KC_KANSAS_CENTER_KEY).get_json()

    assert component(document, "callbackComponent")["callBackInformationUri"] == [
        "tel:+18165550123"
    ]
    assert "losing a job" in component(document, "notesComponent")["notesActionComments"]
    location = component(document, "locationComponent")
    assert "<gml:pos>39.114100 -94.627500</gml:pos>" in location["locationByValue"]
    assert location["locationDescriptionText"] == "caller's location, exact precision"
    names = [a["agencyJcard"] for a in document["agencyComponent"]]
    assert "Sample Wyandotte County 911" in names[0] and "Kansas" in names[1]
    assert "answerDate" in component(document, "callComponent")


def test_a_center_without_a_partnership_of_its_own_reads_only_the_county(
    harness: Harness,
) -> None:
    transfer_id = rolled_over_transfer(harness)

    document = eido(harness, transfer_id, KS_STATEWIDE_CENTER_KEY).get_json()

    assert "callbackComponent" not in document
    assert "notesComponent" not in document
    location = component(document, "locationComponent")
    assert "<ca:A2>Wyandotte County</ca:A2>" in location["locationByValue"]
    assert "<ca:A1>KS</ca:A1>" in location["locationByValue"]
    assert "gml:pos" not in location["locationByValue"]
    assert location["locationDescriptionText"] == "caller's location, county precision"
    assert "16550123" not in json.dumps(document)
    assert problems(document) == []


def test_another_psap_is_told_there_is_no_such_transfer(harness: Harness) -> None:
    transfer_id = harness.register()["transfer_id"]

    assert eido(harness, transfer_id, DOUGLAS_KEY).status_code == 404


def test_a_center_that_has_not_accepted_the_caller_is_refused(harness: Harness) -> None:
    transfer_id = harness.register()["transfer_id"]
    before = eido(harness, transfer_id, KC_KANSAS_CENTER_KEY).status_code
    harness.play([line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)])

    assert before == 403
    assert eido(harness, transfer_id, KS_STATEWIDE_CENTER_KEY).status_code == 403
    assert eido(harness, transfer_id, KC_KANSAS_CENTER_KEY).status_code == 200


def test_a_request_without_a_partner_s_key_is_refused(harness: Harness) -> None:
    transfer_id = harness.register()["transfer_id"]

    assert eido(harness, transfer_id, "not-a-key-0123456789").status_code == 401
    assert eido(harness, "tr_0000000000000000", KC_KANSAS_CENTER_KEY).status_code == 404
    assert eido(harness, "../etc", KC_KANSAS_CENTER_KEY).status_code == 404


def test_the_example_in_the_partners_page_validates_against_nena_s_schema() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "eido.md").read_text(encoding="utf-8")
    example = page.split("```json\n", 1)[1].split("\n```", 1)[0]

    assert problems(json.loads(example)) == []
