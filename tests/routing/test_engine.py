"""Routing decisions on the sample tables: location first, area code only ever for comparison."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from routing.counties import CountyLayer
from routing.engine import Router, Snapshot
from routing.errors import LocationError, RoutingError, TablesInvalid, UnknownZipError
from routing.index import CountyIndex
from routing.location import Civic, LocationQuery, Point, Shape
from routing.model import RoutingTables
from routing.shapes import circle
from routing.tables import DEFAULT_TABLES_DIR, load_tables

# A Wednesday afternoon in Kansas: every sample center is open.
WEDNESDAY = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
# A Sunday at 03:00 in Kansas: weekday-only centers are closed.
SUNDAY_NIGHT = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

KCK = (39.1141, -94.6275)  # Kansas City, Kansas (Wyandotte County)
KCMO = (39.0997, -94.5786)  # Kansas City, Missouri (Jackson County)
STATE_LINE = (39.0300, -94.6075)  # on State Line Road: Johnson County, KS | Jackson County, MO
PRAIRIE_NATION = (39.37, -95.77)  # inside the sample overlay in Jackson County, KS


@pytest.fixture(scope="module")
def router(county_layer: CountyLayer, county_index: CountyIndex) -> Router:
    tables = load_tables(DEFAULT_TABLES_DIR, county_layer)
    return Router(Snapshot(county_layer, county_index, tables))


def route(router: Router, **fields: object) -> dict[str, object]:
    fields.setdefault("at", WEDNESDAY)
    return router.route(LocationQuery(**fields)).to_dict()  # type: ignore[arg-type]


def test_kansas_caller_with_missouri_number_reaches_the_kansas_center(router: Router) -> None:
    decision = route(router, geo=Point(*KCK, 50.0), caller="+18165550123")
    assert decision["county_fips"] == "20209"
    assert decision["center_id"] == "kc-kansas"
    assert decision["method"] == "point"
    assert decision["area_code_center_id"] == "kc-missouri"
    assert decision["area_code_differs"] is True
    assert decision["explanation"] == (
        "Wyandotte County, KS (point ±50 m) → Sample KC Kansas Crisis Line; "
        "by area code 816 this call would have gone to Sample KC Missouri Crisis Center"
    )


def test_a_number_from_outside_north_america_is_compared_with_the_national_line(
    router: Router,
) -> None:
    # +44 20 7946 0xxx: the UK's range for drama, never assigned.
    decision = route(router, geo=Point(*KCK, 50.0), caller="+442079460123")
    assert decision["center_id"] == "kc-kansas"
    assert str(decision["explanation"]).endswith(
        "; by area-code routing (no North American area code) this call would have gone to "
        "Sample National Backup Line"
    )


@pytest.mark.parametrize("caller", ["+18165550123", "+19135550142", "+12125550188", None])
def test_the_area_code_never_changes_a_located_callers_center(
    router: Router, caller: str | None
) -> None:
    for lat, lon in (KCK, KCMO, STATE_LINE, PRAIRIE_NATION):
        with_caller = route(router, geo=Point(lat, lon, 100.0), caller=caller)
        without = route(router, geo=Point(lat, lon, 100.0))
        assert with_caller["center_id"] == without["center_id"]
        assert with_caller["dial_plan"] == without["dial_plan"]


def test_a_circle_across_the_state_line_goes_to_the_greatest_overlap_and_is_flagged(
    router: Router,
) -> None:
    decision = route(router, geo=Point(*STATE_LINE, 1000.0), caller="+18165550150")
    assert decision["method"] == "shape"
    assert decision["ambiguous"] is True
    candidates = decision["candidates"]
    assert isinstance(candidates, list)
    assert {c["center_id"] for c in candidates} == {"kc-kansas", "kc-missouri"}
    assert candidates[0]["share"] >= candidates[1]["share"]
    assert decision["center_id"] == candidates[0]["center_id"]
    assert "crosses a boundary" in str(decision["explanation"])


def test_a_shape_wholly_inside_one_county_is_not_ambiguous(router: Router) -> None:
    shape = Shape(circle(38.9717, -95.2353, 800.0), "circle ±800 m")
    decision = route(router, geo=shape)
    assert decision["county_fips"] == "20045"
    assert decision["ambiguous"] is False
    assert decision["candidates"] == [
        {"center_id": "ks-statewide", "share": 1.0, "county_fips": "20045"}
    ]
    assert decision["county_candidates"] == ["20045"]


def test_the_overlay_takes_priority_over_the_county_while_its_center_is_open(
    router: Router,
) -> None:
    decision = route(router, geo=Point(*PRAIRIE_NATION))
    assert decision["overlay_id"] is not None
    assert decision["county_fips"] == "20085"  # Jackson County, KS
    assert decision["center_id"] == "prairie-nation"


def test_a_closed_center_passes_the_caller_to_its_backup_chain(router: Router) -> None:
    decision = route(router, geo=Point(*PRAIRIE_NATION), at=SUNDAY_NIGHT)
    assert decision["located_center_id"] == "prairie-nation"
    assert decision["center_id"] == "ks-statewide"
    assert "prairie-nation" not in decision["dial_plan"]
    assert "is closed" in str(decision["explanation"])


def test_every_dial_plan_ends_at_the_national_backup_line(router: Router) -> None:
    national = router.tables.national_backup
    for lat, lon in (KCK, KCMO, STATE_LINE, PRAIRIE_NATION, (38.63, -90.2)):
        plan = route(router, geo=Point(lat, lon))["dial_plan"]
        assert isinstance(plan, list)
        assert plan[-1] == national
        assert len(plan) == len(set(plan))


def test_a_zip_code_places_the_caller_in_its_county(router: Router) -> None:
    decision = route(router, civic=Civic(postal_code="66044"), caller="+19135550142")
    assert decision["method"] == "civic"
    assert decision["county_fips"] == "20045"
    assert decision["center_id"] == "ks-statewide"


def test_a_civic_address_with_state_and_county_places_the_caller(router: Router) -> None:
    decision = route(router, civic=Civic(state="MO", county="St. Louis City"))
    assert decision["county_fips"] == "29510"
    assert decision["center_id"] == "stl"


def test_an_unknown_zip_is_a_clear_error(router: Router) -> None:
    with pytest.raises(UnknownZipError):
        route(router, civic=Civic(postal_code="00000"))


def test_only_the_psap_known_routes_by_its_service_area(router: Router) -> None:
    psap = next(iter(router.tables.psaps.values()))
    decision = route(router, psap_id=psap.id, caller="+12125550188")
    assert decision["method"] == "psap_area"
    expected = router.tables.county_centers[psap.service_area[0]]
    assert decision["located_center_id"] == expected


def test_a_location_at_sea_falls_back_to_the_psap_area_and_says_so(router: Router) -> None:
    psap = next(iter(router.tables.psaps.values()))
    decision = route(router, geo=Point(30.0, -40.0), psap_id=psap.id)
    assert decision["method"] == "psap_area"
    assert "outside every county" in str(decision["explanation"])


def test_only_a_caller_number_routes_by_area_code_flagged_as_weakest(router: Router) -> None:
    decision = route(router, caller="+18165550123")
    assert decision["method"] == "area_code"
    assert decision["center_id"] == "kc-missouri"
    assert "weakest" in str(decision["explanation"])


def test_nothing_known_goes_to_the_national_backup_line(router: Router) -> None:
    decision = route(router)
    assert decision["method"] == "default"
    assert decision["center_id"] == router.tables.national_backup


def test_a_located_caller_no_center_serves_goes_to_the_national_line(router: Router) -> None:
    decision = route(router, geo=Point(40.7128, -74.0060), caller="+12125550188")
    assert decision["county_fips"] == "36061"
    assert decision["center_id"] == router.tables.national_backup
    assert "no center in the tables serves New York County, NY" in str(decision["explanation"])


def test_a_spanish_speaker_gets_the_spanish_line_first_then_the_local_chain(
    router: Router,
) -> None:
    decision = route(router, geo=Point(*KCK), language="es")
    spanish = router.tables.language_lines["es"]
    assert decision["center_id"] == spanish
    assert decision["dial_plan"][:2] == [spanish, "kc-kansas"]  # type: ignore[index]


def test_a_veteran_gets_the_veterans_line_first(router: Router) -> None:
    decision = route(router, geo=Point(*KCMO), veteran=True)
    assert decision["center_id"] == router.tables.veterans_line
    assert "kc-missouri" in decision["dial_plan"]  # type: ignore[operator]


def test_an_unknown_psap_is_a_clear_error(router: Router) -> None:
    with pytest.raises(RoutingError, match="unknown PSAP"):
        route(router, psap_id="no-such-psap")


@pytest.mark.parametrize(
    ("lat", "lon", "radius", "message"),
    [
        (95.0, -94.6, None, "beyond ±90"),
        (float("nan"), -94.6, None, "finite"),
        (39.1, -194.6, None, "beyond ±180"),
        (39.1, -94.6, -5.0, "negative"),
    ],
)
def test_impossible_coordinates_are_refused_with_a_reason(
    lat: float, lon: float, radius: float | None, message: str
) -> None:
    with pytest.raises(LocationError, match=message):
        Point(lat, lon, radius)


def test_a_bad_table_never_replaces_the_good_one_in_use(
    router: Router, county_layer: CountyLayer, tmp_path: Path
) -> None:
    reloadable = Router(router.snapshot)
    before = reloadable.tables
    broken = tmp_path / "tables"
    shutil.copytree(DEFAULT_TABLES_DIR, broken)
    centers = next(broken.glob("centers.y*ml"))
    centers.write_text(centers.read_text().replace("+19135550102", "+1913555"))
    with pytest.raises(TablesInvalid):
        reloadable.reload(broken)
    assert reloadable.tables is before
    assert reloadable.route(LocationQuery(geo=Point(*KCK), at=WEDNESDAY)).center_id == "kc-kansas"


def reload_edited(router: Router, tmp_path: Path, old: str, new: str) -> RoutingTables:
    """Reload `router` with a copy of the sample whose centers.yaml has `old` replaced."""
    copy = tmp_path / "tables"
    shutil.copytree(DEFAULT_TABLES_DIR, copy)
    centers = copy / "centers.yaml"
    centers.write_text(centers.read_text().replace(old, new))
    return router.reload(copy)


def test_a_good_table_reload_takes_effect_for_the_next_decision(
    router: Router, tmp_path: Path
) -> None:
    reloadable = Router(router.snapshot)
    tables = reload_edited(reloadable, tmp_path, "Sample KC Kansas Crisis Line", "Renamed Line")
    assert tables.version != router.tables.version
    decision = reloadable.route(LocationQuery(geo=Point(*KCK), at=WEDNESDAY))
    assert decision.center_name == "Renamed Line"


def test_the_routing_core_imports_no_web_queue_or_database_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, routing.engine, routing.tables, routing.pidf, routing.zips;"
        "print(sorted(m for m in ('flask', 'redis', 'rq', 'sqlalchemy', 'gateway')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_center_on_holiday_passes_the_caller_on_and_the_note_names_the_holiday(
    router: Router, tmp_path: Path
) -> None:
    reloadable = Router(router.snapshot)
    reload_edited(
        reloadable,
        tmp_path,
        "    ring_timeout_seconds: 30\n",
        "    ring_timeout_seconds: 30\n"
        "    holidays: [{date: 2026-11-25, name: Staff Training Day, hours: closed}]\n",
    )

    decision = route(reloadable, geo=Point(*PRAIRIE_NATION))  # Wednesday 2026-11-25

    assert decision["center_id"] == "ks-statewide"
    assert "Sample Prairie Nation Crisis Line is closed for Staff Training Day" in str(
        decision["explanation"]
    )
