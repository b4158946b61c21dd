"""The reports API, the CSV export and /metrics, on a tiny Flask app."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.adapters.store.repository import save_event
from gateway.domain.events import EventKind
from gateway.settings import Settings
from gateway.web import reports_api
from tests.store import factories as f

KEY = "analyst-key-for-tests"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def client(engine: Engine) -> FlaskClient:
    with Session(engine) as session, session.begin():
        for event in [
            *f.connected_first_choice("tr_1"),
            *f.connected_after_rollover("tr_2", start=86_400),
            *f.returned_to_911("tr_3", start=86_400 * 7),
        ]:
            save_event(session, event)
    app = Flask(__name__)
    app.register_blueprint(reports_api.bp)
    reports_api.init_app(app, Settings(analyst_api_keys=("other-key", KEY)), engine)
    return app.test_client()


NOT_A_KEY = [{}, {"Authorization": "Bearer wrong"}, {"X-Analyst-Key": ""}, {"Authorization": KEY}]


@pytest.mark.parametrize("headers", NOT_A_KEY)
def test_reports_need_an_analyst_key(client: FlaskClient, headers: dict[str, str]) -> None:
    for path in ("/reports/summary", "/reports/volume", "/reports/transfers.csv"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.get_json() == {"error": "an analyst key is required"}


def test_the_summary_answers_with_the_figures_of_the_period(client: FlaskClient) -> None:
    response = client.get("/reports/summary?from=2026-03-02&to=2026-03-03", headers=AUTH)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["from"], body["to"], body["by"]) == ("2026-03-02", "2026-03-03", "all")
    (row,) = body["rows"]
    assert (row["requested"], row["connected"], row["rollover_rate"]) == (2, 2, 0.5)
    assert (row["answer_s_median"], row["accept_s_p90"]) == (10.0, 40.0)


def test_the_other_key_header_is_accepted_too(client: FlaskClient) -> None:
    response = client.get("/reports/volume?period=week&by=psap", headers={"X-Analyst-Key": KEY})
    assert response.status_code == 200
    rows = response.get_json()["rows"]
    assert [(r["period_start"], r["group"], r["requested"]) for r in rows] == [
        ("2026-03-02", "psap-douglas", 2),
        ("2026-03-09", "psap-douglas", 1),
    ]


@pytest.mark.parametrize(
    ("query", "named"),
    [("from=March", "from="), ("by=zip", "by="), ("period=month", "period="),
     ("from=2026-03-05&to=2026-03-01", "from is after to"),
     ("timezone=Mars/Olympus", "timezone="), ("include_drills=maybe", "include_drills=")],
)  # fmt: skip
def test_a_bad_parameter_is_a_400_that_names_it(
    client: FlaskClient, query: str, named: str
) -> None:
    response = client.get(f"/reports/volume?{query}", headers=AUTH)
    assert response.status_code == 400
    assert named in response.get_json()["error"]


def test_the_csv_export_downloads_one_row_per_transfer(client: FlaskClient) -> None:
    response = client.get("/reports/transfers.csv?to=2026-03-03", headers=AUTH)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="transfers_start_2026-03-03.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["transfer_id"] for r in rows] == ["tr_1", "tr_2"]


def test_metrics_count_recorded_events_by_kind_and_histogram_latencies(
    client: FlaskClient,
) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'gateway_events_recorded_total{kind="dial_attempt"} 4.0' in text
    assert 'gateway_transfers{outcome="returned_to_911"} 1.0' in text
    # Answers at 10 s and 36 s: one within 20 s, both within 45 s.
    assert 'gateway_transfer_answer_seconds_bucket{le="20"} 1.0' in text
    assert 'gateway_transfer_answer_seconds_bucket{le="45"} 2.0' in text
    assert 'gateway_transfer_answer_seconds_bucket{le="+Inf"} 2.0' in text
    assert "gateway_transfer_answer_seconds_sum 46.0" in text
    assert "# TYPE gateway_events_enqueued_total counter" in text  # this process's own


def test_metrics_see_new_events_without_a_restart(client: FlaskClient, engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        save_event(session, f.event("tr_3", EventKind.CALLER_HUNG_UP, 86_400 * 7 + 20))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_events_recorded_total{kind="caller_hung_up"} 1.0' in text
