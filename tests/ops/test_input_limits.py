"""No input causes a 500: bodies past their limit are 413, bad numbers and dates 400 naming
the field, API errors JSON, and a store that is down a 503 (or /metrics saying so)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.web import limits
from routing.engine import Router
from tests.app.harness import ELIGIBLE
from tests.ops.apps import ANALYST_KEY, PSAP_KEY, PUBLIC_URL, migrated_sqlite, ops_app, signed

PSAP = {"Authorization": f"Bearer {PSAP_KEY}"}
ANALYST = {"Authorization": f"Bearer {ANALYST_KEY}"}
DOWN_STORE = "postgresql://gateway@127.0.0.1:1/outcomes"  # nothing listens on port 1


@pytest.fixture
def app(router: Router, redis_url: str, tmp_path: Path) -> Flask:
    return ops_app(router, redis_url, migrated_sqlite(tmp_path))[0]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_a_body_over_1_mib_is_refused_with_413_on_the_api(client: FlaskClient) -> None:
    body = json.dumps({**ELIGIBLE, "summary": "x" * (1024 * 1024)})
    answer = client.post(
        "/api/v1/transfers", data=body, content_type="application/json", headers=PSAP
    )
    assert answer.status_code == 413
    assert answer.get_json()["error"] == "request-entity-too-large"


def test_a_body_over_1_mib_is_refused_with_413_on_a_webhook(client: FlaskClient) -> None:
    form = {"CallSid": "CA" + "5" * 32, "Digits": "1" * (1024 * 1024)}
    answer = client.post("/voice", data=form, headers=signed("/voice", form), base_url=PUBLIC_URL)
    assert answer.status_code == 413


def test_a_blueprint_can_be_given_a_larger_limit_of_its_own(app: Flask) -> None:
    limits.set_body_limit(app, "api", 4 * 1024 * 1024)
    body = json.dumps({**ELIGIBLE, "summary": "x" * (2 * 1024 * 1024)})
    answer = app.test_client().post(
        "/api/v1/route", data=body, content_type="application/json", headers=PSAP
    )
    assert answer.status_code != 413


def test_deeply_nested_json_is_invalid_json_not_a_crash(client: FlaskClient) -> None:
    for depth in (40, 100_000):
        body = "[" * depth + "]" * depth
        answer = client.post(
            "/api/v1/route", data=body, content_type="application/json", headers=PSAP
        )
        assert answer.status_code == 400
        assert answer.get_json()["error"] == "invalid-json"


def test_json_nested_within_the_limit_is_read(client: FlaskClient) -> None:
    body = {**ELIGIBLE, "extra": json.loads("[" * 20 + "]" * 20)}
    answer = client.post("/api/v1/route", json=body, headers=PSAP)
    assert answer.status_code == 200


def test_a_coordinate_given_as_a_400_digit_integer_is_a_400_naming_it(
    client: FlaskClient,
) -> None:
    body = '{"location": {"lat": ' + "9" * 400 + ', "lon": -94.6}}'
    answer = client.post("/api/v1/route", data=body, content_type="application/json", headers=PSAP)
    assert answer.status_code == 400
    assert answer.get_json()["field"] == "location.lat"


def test_nan_is_not_a_number_the_api_accepts(client: FlaskClient) -> None:
    body = '{"location": {"lat": NaN, "lon": -94.6}}'
    answer = client.post("/api/v1/route", data=body, content_type="application/json", headers=PSAP)
    assert answer.status_code == 400


def test_a_report_date_beyond_what_the_store_holds_is_a_400_naming_it(
    client: FlaskClient,
) -> None:
    answer = client.get("/reports/summary?to=9999-12-31", headers=ANALYST)
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("to='9999-12-31': must be from")


def test_an_unknown_api_route_and_a_wrong_method_are_answered_as_json(
    client: FlaskClient,
) -> None:
    missing = client.get("/api/v1/nothing-here", headers=PSAP)
    assert missing.status_code == 404 and missing.get_json()["error"] == "not-found"
    wrong = client.delete("/api/v1/transfers", headers=PSAP)
    assert wrong.status_code == 405 and wrong.get_json()["error"] == "method-not-allowed"


@pytest.mark.parametrize("store", ["down", "unmigrated"])
def test_reports_answer_503_json_when_the_store_is_down_or_unmigrated(
    store: str, router: Router, redis_url: str, tmp_path: Path
) -> None:
    url = DOWN_STORE if store == "down" else f"sqlite:///{tmp_path / 'new.sqlite3'}"
    client = ops_app(router, redis_url, url)[0].test_client()
    for path in ("/reports/summary", "/reports/volume", "/reports/transfers.csv"):
        answer = client.get(path, headers=ANALYST)
        assert answer.status_code == 503
        assert answer.get_json()["error"] == "store-unavailable"


@pytest.mark.parametrize("store", ["down", "unmigrated"])
def test_metrics_answer_200_with_store_up_0_and_no_store_figures(
    store: str, router: Router, redis_url: str, tmp_path: Path
) -> None:
    url = DOWN_STORE if store == "down" else f"sqlite:///{tmp_path / 'new.sqlite3'}"
    answer = ops_app(router, redis_url, url)[0].test_client().get("/metrics")
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "gateway_store_up 0.0" in text
    assert "gateway_transfers" not in text and "gateway_events_recorded" not in text


def test_metrics_report_store_up_1_with_its_figures_when_it_answers(client: FlaskClient) -> None:
    text = client.get("/metrics").get_data(as_text=True)
    assert "gateway_store_up 1.0" in text
    assert "gateway_transfer_answer_seconds_bucket" in text
