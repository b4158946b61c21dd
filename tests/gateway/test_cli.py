"""The `gateway` command: route, batch, tables, demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main

REQUIRED = {
    "county_fips",
    "center_id",
    "method",
    "ambiguous",
    "candidates",
    "area_code_center_id",
    "explanation",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_route_prints_one_json_object_with_the_decision_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "route", "--lat", "39.11", "--lon", "-94.63", "--radius-m", "300",
        "--caller", "+18165550123", "--at", "2026-11-25T14:00-06:00", "--json",
    )  # fmt: skip
    assert code == 0
    decision = json.loads(out)
    assert decision.keys() >= REQUIRED
    assert decision["county_fips"] == "20209"
    assert decision["center_id"] == "kc-kansas"
    assert decision["area_code_center_id"] == "kc-missouri"


def test_route_by_zip_prints_a_readable_explanation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "route", "--zip", "66101", "--at", "2026-11-25T14:00-06:00")
    assert code == 0
    assert out.startswith("Wyandotte County, KS (ZIP 66101) → Sample KC Kansas Crisis Line")


def test_route_reads_a_pidf_lo_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pidf = tmp_path / "location.xml"
    pidf.write_text(
        """<?xml version="1.0"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
    xmlns:gml="http://www.opengis.net/gml" xmlns:gs="http://www.opengis.net/pidflo/1.0"
    entity="pres:caller@example.invalid">
  <tuple id="t1"><status><gp:geopriv><gp:location-info>
    <gs:Circle srsName="urn:ogc:def:crs:EPSG::4326">
      <gml:pos>39.0997 -94.5786</gml:pos>
      <gs:radius uom="urn:ogc:def:uom:EPSG::9001">40</gs:radius>
    </gs:Circle>
  </gp:location-info></gp:geopriv></status></tuple>
</presence>"""
    )
    code, out, _ = run(capsys, "route", "--pidf", str(pidf), "--json")
    assert code == 0
    assert json.loads(out)["county_fips"] == "29095"


def test_route_with_an_unusable_pidf_lo_falls_back_to_the_psap_area_and_says_why(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pidf = tmp_path / "location.xml"
    pidf.write_text(
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:caller@example.com">'
        "<tuple id='t1'><status/></tuple></presence>"
    )
    code, out, _ = run(capsys, "route", "--pidf", str(pidf), "--psap", "wyandotte-911", "--json")

    assert code == 0
    decision = json.loads(out)
    assert decision["method"] == "psap_area"
    assert any("no location" in note for note in decision["notes"])


def test_impossible_input_gets_a_clear_error_and_exit_code_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "route", "--lat", "95", "--lon", "-94.6", "--json")
    assert code == 2
    assert "beyond ±90" in json.loads(out)["error"]
    assert "beyond ±90" in err


def test_batch_answers_every_row_in_order_and_reports_bad_rows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    batch = tmp_path / "points.csv"
    batch.write_text(
        "lat,lon,radius_m,caller\n"
        "39.1141,-94.6275,50,+18165550123\n"
        "not-a-number,-94.6,,\n"
        "39.0997,-94.5786,,\n"
        "91,-94.6,,\n"
    )
    code, out, _ = run(capsys, "route", "--batch", str(batch), "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["row"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["center_id"] == "kc-kansas"
    assert "error" in rows[1] and "not a number" in rows[1]["error"]
    assert rows[2]["county_fips"] == "29095"
    assert "beyond ±90" in rows[3]["error"]


def test_tables_validate_accepts_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tables", "validate")
    assert code == 0
    assert "valid" in out


def test_tables_validate_lists_problems_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import shutil

    from routing.tables import DEFAULT_TABLES_DIR

    broken = tmp_path / "tables"
    shutil.copytree(DEFAULT_TABLES_DIR, broken)
    centers = next(broken.glob("centers.y*ml"))
    centers.write_text(centers.read_text().replace("+19135550102", "+1913555"))
    code, _, err = run(capsys, "tables", "validate", str(broken))
    assert code == 1
    assert "centers.y" in err and "+1913555" in err


def test_tables_coverage_shows_each_center_and_no_gaps_in_kansas(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "tables", "coverage", "--state", "KS")
    assert code == 0
    assert "Wyandotte" in out


def test_demo_routes_the_kansas_city_cases_and_plays_the_transfer_end_to_end(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "Wyandotte County, KS" in out
    assert "by area code 816 this call would have gone to Sample KC Missouri Crisis Center" in out
    assert "HTTP 201" in out
    assert "kc-kansas: no-answer" in out
    assert "caller <-> ks-statewide connected" in out
    assert "rollover" in out
    assert "psap-escalatio" in out and "busy" in out  # the escalation line was busy
    assert "caller <-> psap-alternate connected" in out  # the bounce-back reached 911
    assert "escalation_answered" in out
    assert "The gateway never dropped the caller." in out
    # The worker wrote the transfer to the outcome store (web and worker are real processes).
    assert "outcome: connected_after_rollover; connected to ks-statewide; rollovers 1" in out
    assert "escalated True, PSAP answered True" in out
    assert "+18165550123" not in out.split("Timeline:")[1]  # the callback number stays private


def test_simulate_is_a_gateway_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.carrier_sim.apps import AUTH_TOKEN

    code, out, _ = run(
        capsys, "simulate", "scenarios/sim-happy-path.yaml", "--json",
        "--app", "tests.carrier_sim.apps:cli_app", "--auth-token", AUTH_TOKEN,
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["parties"]["caller"]["talked_to"][0]["party"] == "center-a"


def test_report_and_store_are_gateway_subcommands(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    code, _, _ = run(capsys, "store", "migrate")
    assert code == 0
    code, out, _ = run(capsys, "report", "summary", "--json")
    assert code == 0
    assert json.loads(out) == []  # no transfers yet: no rows
