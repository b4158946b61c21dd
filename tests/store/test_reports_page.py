"""The analysts' reports page (GET /reports) on a small Flask app over the store."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from gateway.settings import Settings
from gateway.web import reports_api, reports_page
from tests.store import factories as f
from tests.store.databases import save_events as save

KEY = "analyst-key-for-the-page"
AUTH = {"Authorization": f"Bearer {KEY}"}
MARCH = "from=2026-03-01&to=2026-03-31"
CHARTS = ("weekly", "outcomes", "answer", "accept", "rollovers", "escalations", "hours")


def app_over(engine: Engine, zones: tuple[str, ...] = ("America/Chicago",)) -> FlaskClient:
    app = Flask(__name__)
    app.register_blueprint(reports_api.bp)
    app.register_blueprint(reports_page.bp)
    settings = Settings(analyst_api_keys=(KEY,))
    reports_api.init_app(app, settings, engine, zones=lambda: zones)
    return app.test_client()


@pytest.fixture
def client(engine: Engine) -> FlaskClient:
    save(
        engine,
        [
            *f.connected_first_choice("tr_1"),
            *f.connected_after_rollover("tr_2", start=3600),
            *f.escalated("tr_3", answered=True, start=86_400),
            *f.as_drill(f.returned_to_911("tr_drill", start=3 * 86_400)),
        ],
    )
    return app_over(engine)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def test_without_a_key_the_page_is_only_the_sign_in_form(client: FlaskClient) -> None:
    response = client.get("/reports")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="key"' in page and "<svg" not in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_a_wrong_bearer_key_is_refused_with_the_sign_in_form(client: FlaskClient) -> None:
    response = client.get("/reports", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert "That is not an analyst key." in response.get_data(as_text=True)


def test_a_bearer_key_opens_the_report(client: FlaskClient) -> None:
    response = client.get(f"/reports?{MARCH}", headers=AUTH)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for key in CHARTS:
        assert f'id="{key}-title"' in page and f'id="{key}-desc"' in page


def test_signing_in_with_the_form_keeps_the_analyst_signed_in(client: FlaskClient) -> None:
    token = csrf_of(client.get("/reports").get_data(as_text=True))
    response = client.post("/reports/sign-in", data={"key": KEY, "csrf_token": token})
    assert (response.status_code, response.headers["Location"]) == (303, "/reports")
    cookie = response.headers.getlist("Set-Cookie")[0]
    assert KEY not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get(f"/reports?{MARCH}").get_data(as_text=True)
    assert "Transfers per week" in page
    out = client.post("/reports/sign-out", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 303
    assert 'name="key"' in client.get("/reports").get_data(as_text=True)


def test_a_sign_in_without_the_csrf_token_is_refused(client: FlaskClient) -> None:
    client.get("/reports")
    response = client.post("/reports/sign-in", data={"key": KEY, "csrf_token": "forged"})
    assert response.status_code == 400
    assert "reports_session" not in response.headers.get("Set-Cookie", "")


def test_a_wrong_key_in_the_form_is_refused(client: FlaskClient) -> None:
    token = csrf_of(client.get("/reports").get_data(as_text=True))
    response = client.post("/reports/sign-in", data={"key": "guess", "csrf_token": token})
    assert response.status_code == 401
    assert "That is not an analyst key." in response.get_data(as_text=True)


def test_every_chart_has_its_axes_and_says_so_before_there_is_any_data(engine: Engine) -> None:
    page = app_over(engine).get(f"/reports?{MARCH}", headers=AUTH).get_data(as_text=True)
    assert page.count('class="axis"') == 2 * len(CHARTS)
    assert page.count("No transfers in this period") >= len(CHARTS)


def test_the_figures_are_also_in_tables(client: FlaskClient) -> None:
    page = client.get(f"/reports?{MARCH}", headers=AUTH).get_data(as_text=True)
    assert "<caption>Transfers per week</caption>" in page
    assert '<th scope="row">2026-03-02</th><td>3</td>' in page
    assert '<th scope="row">Connected after rollover</th><td>1</td>' in page


def test_breakdowns_show_county_reasons_and_the_chain(client: FlaskClient) -> None:
    page = client.get(f"/reports?{MARCH}", headers=AUTH).get_data(as_text=True)
    assert '<th scope="row">20045</th><td>3</td>' in page
    assert "<td>no-answer</td>" in page
    assert '<th scope="row">2</th><td>backup-ks</td><td>1</td>' in page


def test_the_report_is_in_the_partnerships_time_zone_with_a_selector(
    client: FlaskClient,
) -> None:
    page = client.get(f"/reports?{MARCH}", headers=AUTH).get_data(as_text=True)
    assert "times in <strong>America/Chicago</strong>" in page
    assert '<option value="America/Chicago" selected>' in page
    assert '<option value="UTC">' in page
    # The transfers at 14:00 and 15:00 UTC are at 08:00 and 09:00 in Kansas (CST).
    assert '<th scope="row">08:00</th><td>2</td>' in page
    utc = client.get(f"/reports?{MARCH}&timezone=UTC", headers=AUTH).get_data(as_text=True)
    assert '<th scope="row">14:00</th><td>2</td>' in utc


def test_drills_are_left_out_unless_included(client: FlaskClient) -> None:
    page = client.get(f"/reports?{MARCH}", headers=AUTH).get_data(as_text=True)
    assert '<th scope="row">Returned to 911</th><td>0</td>' in page
    assert "Drills and demos are left out." in page
    asked = f"/reports?{MARCH}&include_drills=true"
    page = client.get(asked, headers=AUTH).get_data(as_text=True)
    assert '<th scope="row">Returned to 911</th><td>1</td>' in page


def test_a_bad_time_zone_is_a_400_naming_it(client: FlaskClient) -> None:
    response = client.get("/reports?timezone=Nowhere/Atlantis", headers=AUTH)
    assert response.status_code == 400
    assert "timezone=" in response.get_data(as_text=True)


def test_by_default_the_report_covers_the_last_twelve_weeks(client: FlaskClient) -> None:
    page = client.get("/reports", headers=AUTH).get_data(as_text=True)
    today = datetime.now(ZoneInfo("America/Chicago")).date()
    first = today - timedelta(weeks=12) + timedelta(days=1)
    assert f"{first.isoformat()} to {today.isoformat()}, times in" in page


def test_the_json_api_still_answers_api_clients(client: FlaskClient) -> None:
    response = client.get("/reports/summary?timezone=America/Chicago", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["timezone"] == "America/Chicago"
    assert response.get_json()["rows"][0]["requested"] == 3


def test_a_period_with_only_a_start_runs_to_today(client: FlaskClient) -> None:
    response = client.get("/reports?from=2026-03-01", headers=AUTH)
    today = datetime.now(ZoneInfo("America/Chicago")).date()
    assert response.status_code == 200
    assert f"2026-03-01 to {today.isoformat()}, times in" in response.get_data(as_text=True)


def test_a_start_after_today_is_a_400_naming_it(client: FlaskClient) -> None:
    response = client.get("/reports?from=2999-01-01", headers=AUTH)
    assert response.status_code == 400
    assert "from=" in response.get_data(as_text=True)
