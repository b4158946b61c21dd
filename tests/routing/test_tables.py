"""The routing tables: the shipped sample, every validation rule, and the coverage report.

Each bad-table test copies config/tables, changes one thing and expects exactly the problems
that change should cause, so a rule that starts reporting noise (or nothing) is caught too.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import shapely
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Polygon

from routing.counties import CountyLayer
from routing.errors import RoutingError, TablesInvalid
from routing.model import CenterShare, LocationPrecision, Risk, RoutingTables
from routing.tables import DEFAULT_TABLES_DIR, coverage, format_coverage, load_tables

Problem = tuple[str, str, str]

CENTERS, CATCHMENTS, PSAPS = "centers.yaml", "catchments.yaml", "psaps.yaml"
PARTNERSHIPS, AREA_CODES = "partnerships.yaml", "area_codes.yaml"
OVERLAY = "overlays/prairie-nation-reservation.geojson"


@pytest.fixture(scope="session")
def layer(county_layer: CountyLayer) -> CountyLayer:
    """The shipped county layer, shared with the rest of the suite (tests/conftest.py)."""
    return county_layer


@pytest.fixture(scope="session")
def sample(layer: CountyLayer) -> RoutingTables:
    return load_tables(DEFAULT_TABLES_DIR, layer)


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    """A private copy of the sample tables for a test to break."""
    target = tmp_path / "tables"
    shutil.copytree(DEFAULT_TABLES_DIR, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in a file (fails loudly if the sample changed)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(path: Path, text: str) -> int:
    """The line number (from 1) of the one line containing `text`."""
    (number,) = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return number


def problems(path: Path, layer: CountyLayer) -> list[Problem]:
    with pytest.raises(TablesInvalid) as info:
        load_tables(path, layer)
    return [(p.file, p.entry, p.reason) for p in info.value.problems]


# --------------------------------------------------------------------------------------------
# The sample


def test_sample_tables_pass_validation(sample: RoutingTables) -> None:
    assert sample.source == str(DEFAULT_TABLES_DIR)
    assert sample.national_backup == "national"
    assert sample.configured_states == {"KS", "MO"}


def test_sample_covers_every_county_of_kansas_and_missouri(
    sample: RoutingTables, layer: CountyLayer
) -> None:
    counties = layer.in_state("KS") + layer.in_state("MO")

    assert (len(layer.in_state("KS")), len(layer.in_state("MO"))) == (105, 115)
    assert set(sample.county_centers) == {c.fips for c in counties}


@pytest.mark.parametrize(
    ("fips", "name", "center"),
    [
        ("20209", "Wyandotte County, KS", "kc-kansas"),
        ("20091", "Johnson County, KS", "kc-kansas"),
        ("29095", "Jackson County, MO", "kc-missouri"),
        ("29047", "Clay County, MO", "kc-missouri"),
        ("29165", "Platte County, MO", "kc-missouri"),
        ("29037", "Cass County, MO", "kc-missouri"),
        ("29189", "St. Louis County, MO", "stl"),
        ("29510", "St. Louis city, MO", "stl"),
        ("29183", "St. Charles County, MO", "stl"),
        ("29099", "Jefferson County, MO", "stl"),
        ("20045", "Douglas County, KS", "ks-statewide"),
        ("20085", "Jackson County, KS", "ks-statewide"),
        ("29001", "Adair County, MO", "mo-statewide"),
    ],
)
def test_sample_fips_codes_name_the_intended_counties_and_centers(
    sample: RoutingTables, layer: CountyLayer, fips: str, name: str, center: str
) -> None:
    county = layer.get(fips)

    assert county is not None and county.label == name
    assert sample.county_centers[fips] == center


def test_sample_statewide_lines_serve_the_rest_of_their_states(sample: RoutingTables) -> None:
    served = Counter(sample.county_centers.values())

    assert served == {
        "ks-statewide": 103,
        "kc-kansas": 2,
        "mo-statewide": 107,
        "kc-missouri": 4,
        "stl": 4,
    }


def test_sample_overlay_lies_inside_jackson_county_kansas(
    sample: RoutingTables, layer: CountyLayer
) -> None:
    (overlay,) = sample.overlays

    assert overlay.center_id == "prairie-nation"
    assert layer.geometry("20085").contains(overlay.geometry)
    assert overlay.geometry.contains(shapely.Point(-95.77, 39.37))


def test_sample_prairie_nation_answers_weekday_daytime_then_falls_back(
    sample: RoutingTables,
) -> None:
    center = sample.centers["prairie-nation"]

    assert not center.hours.always
    assert center.hours.text == "mon-fri 08:00-17:00"
    assert center.backups == ("ks-statewide", "national")
    assert center.ring_timeout_s == 30


def test_sample_specialty_lines_and_area_codes(sample: RoutingTables) -> None:
    assert sample.language_lines == {"es": "spanish-line"}
    assert sample.veterans_line == "veterans-line"
    assert sample.centers["spanish-line"].languages == ("es",)
    assert sample.area_codes["816"] == "kc-missouri"
    assert sample.state_centers == {"KS": "ks-statewide", "MO": "mo-statewide"}


def test_sample_psaps_and_partnerships(sample: RoutingTables) -> None:
    psap = sample.psaps["wyandotte-911"]
    partnership = sample.partnerships[("wyandotte-911", "kc-kansas")]

    assert psap.numbers == ("+19135550120",)
    assert psap.escalation_number == "+19135550121"
    assert psap.alternates == ("+19135550122",)
    assert psap.service_area == ("20209",)
    assert partnership.allows("suicidal-ideation-no-plan", Risk.MILD)
    assert not partnership.allows("suicidal-ideation-no-plan", Risk.MODERATE)
    assert not partnership.allows("unlisted-call-type", Risk.LOW)


def test_every_center_uses_the_default_ring_timeout_unless_it_sets_one(
    sample: RoutingTables,
) -> None:
    timeouts = {c.id: c.ring_timeout_s for c in sample.centers.values()}

    assert timeouts.pop("prairie-nation") == 30
    assert set(timeouts.values()) == {24}


def test_version_is_a_short_digest_that_changes_with_any_edit(
    sample: RoutingTables, tables: Path, layer: CountyLayer
) -> None:
    copy = load_tables(tables, layer)
    edit(tables / OVERLAY, "[-95.6828, 39.4374]", "[-95.6829, 39.4374]")
    edited = load_tables(tables, layer)

    assert len(sample.version) == 12 and int(sample.version, 16) >= 0
    assert copy.version == sample.version
    assert edited.version != sample.version


def test_loaded_tables_cannot_be_edited_in_place(sample: RoutingTables) -> None:
    with pytest.raises(TypeError):
        sample.county_centers["20209"] = "stl"  # type: ignore[index]


def test_overlays_are_ordered_highest_priority_first_then_by_id(
    tables: Path, layer: CountyLayer
) -> None:
    for name, priority in (("b-low", 0), ("a-high", 5), ("c-high", 5)):
        shutil.copy(tables / OVERLAY, tables / f"overlays/{name}.geojson")
        with (tables / CATCHMENTS).open("a", encoding="utf-8") as f:
            f.write(
                f"  - id: {name}\n    name: {name}\n    center: ks-statewide\n"
                f"    file: overlays/{name}.geojson\n    priority: {priority}\n"
            )

    loaded = load_tables(tables, layer)

    order = [o.id for o in loaded.overlays]
    assert order == ["a-high", "c-high", "b-low", "prairie-nation-reservation"]


@pytest.mark.parametrize(("priority", "winner"), [(-5, "mo-statewide"), (10, "kc-missouri")])
def test_the_higher_priority_claim_wins_a_county(
    tables: Path, layer: CountyLayer, priority: int, winner: str
) -> None:
    edit(
        tables / CATCHMENTS,
        "center: kc-missouri\n    priority: 10",
        f"center: kc-missouri\n    priority: {priority}",
    )

    loaded = load_tables(tables, layer)

    assert loaded.county_centers["29095"] == winner


# --------------------------------------------------------------------------------------------
# Phone numbers


def test_number_with_spaces_is_not_e164(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CENTERS, 'number: "+17855550101"', 'number: "+1 785 555 0101"')

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center ks-statewide",
            "number: '+1 785 555 0101' is not in E.164 form: '+', country code and number, "
            "no spaces",
        )
    ]


def test_unquoted_number_is_reported_with_a_hint_to_quote_it(
    tables: Path, layer: CountyLayer
) -> None:
    edit(tables / CENTERS, 'number: "+17855550101"', "number: +17855550101")

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center ks-statewide",
            "number: the number 17855550101 (write it in quotes if it is text) is not a phone "
            'number; write it in quotes, such as "+17855550101"',
        )
    ]


def test_number_that_cannot_exist_is_reported(tables: Path, layer: CountyLayer) -> None:
    # Area code 123 is not assigned: E.164 in form, but not a valid number.
    edit(tables / PSAPS, 'escalation: "+19135550121"', 'escalation: "+11235550121"')

    assert problems(tables, layer) == [
        (PSAPS, "psap wyandotte-911", "escalation: '+11235550121' is not a valid phone number")
    ]


def test_bad_alternate_number_of_a_psap_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / PSAPS, '"+17855550142"', '"7855550142"')

    assert problems(tables, layer) == [
        (
            PSAPS,
            "psap douglas-911",
            "alternates: '7855550142' is not in E.164 form: '+', country code and number, "
            "no spaces",
        )
    ]


def test_two_psaps_cannot_share_a_number(tables: Path, layer: CountyLayer) -> None:
    edit(tables / PSAPS, 'numbers: ["+18165550130"]', 'numbers: ["+19135550120"]')

    assert problems(tables, layer) == [
        (PSAPS, "psap kcmo-911", "numbers: +19135550120 is also a number of psap 'wyandotte-911'")
    ]


# --------------------------------------------------------------------------------------------
# References between tables


@pytest.mark.parametrize(
    ("file", "old", "new", "entry", "reason"),
    [
        (
            CENTERS,
            "backups: [ks-statewide, national]\n\n  - id: kc-missouri",
            "backups: [ks-statewid, national]\n\n  - id: kc-missouri",
            "center kc-kansas",
            "unknown center 'ks-statewid' in backups (did you mean 'ks-statewide'?)",
        ),
        (
            CATCHMENTS,
            "center: stl",
            "center: st-louis",
            "catchment #5 (st-louis)",
            "unknown center 'st-louis'",
        ),
        (
            CATCHMENTS,
            "center: prairie-nation",
            "center: prairie",
            "overlay prairie-nation-reservation",
            "unknown center 'prairie' (did you mean 'prairie-nation'?)",
        ),
        (
            PARTNERSHIPS,
            "center: ks-statewide",
            "center: kansas-statewide",
            "partnership douglas-911 -> kansas-statewide",
            "unknown center 'kansas-statewide' (did you mean 'ks-statewide'?)",
        ),
        (
            CENTERS,
            "es: spanish-line",
            "es: spanish",
            "specialty",
            "unknown center 'spanish' for language es (did you mean 'spanish-line'?)",
        ),
        (
            CENTERS,
            "veterans: veterans-line",
            "veterans: veteran-line",
            "specialty",
            "unknown center 'veteran-line' for veterans (did you mean 'veterans-line'?)",
        ),
        (
            AREA_CODES,
            '"314": stl',
            '"314": stl-center',
            "area code 314",
            "unknown center 'stl-center'",
        ),
        (
            AREA_CODES,
            "MO: mo-statewide",
            "MO: missouri",
            "state MO",
            "unknown center 'missouri' (did you mean 'kc-missouri'?)",
        ),
    ],
)
def test_unknown_center_is_reported_wherever_it_is_named(
    tables: Path, layer: CountyLayer, file: str, old: str, new: str, entry: str, reason: str
) -> None:
    edit(tables / file, old, new)

    assert problems(tables, layer) == [(file, entry, reason)]


def test_unknown_psap_in_a_partnership_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / PARTNERSHIPS, "psap: douglas-911", "psap: douglas-county-911")

    assert problems(tables, layer) == [
        (
            PARTNERSHIPS,
            "partnership douglas-county-911 -> ks-statewide",
            "unknown psap 'douglas-county-911' (did you mean 'douglas-911'?)",
        )
    ]


def test_a_broken_centers_file_does_not_make_every_reference_unknown(
    tables: Path, layer: CountyLayer
) -> None:
    entry = line_of(tables / CENTERS, "  - id: ks-statewide")
    edit(tables / CENTERS, "  - id: ks-statewide\n", "  - id: ks-statewide\n  :\n")

    assert problems(tables, layer) == [
        (
            CENTERS,
            f"line {entry + 1}",
            "not valid YAML: expected <block end>, but found ':' "
            f"(while parsing a block collection on line {entry})",
        )
    ]


# --------------------------------------------------------------------------------------------
# Backups


def test_backup_cycle_is_reported_with_both_centers(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        "backups: [national]\n\n  - id: kc-kansas",
        "backups: [kc-kansas, national]\n\n  - id: kc-kansas",
    )

    assert problems(tables, layer) == [
        (CENTERS, "center ks-statewide", "backup cycle: ks-statewide -> kc-kansas -> ks-statewide")
    ]


def test_center_listing_itself_as_a_backup_is_a_cycle(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        "backups: [mo-statewide, national]\n\n  - id: stl",
        "backups: [kc-missouri, national]\n\n  - id: stl",
    )

    assert problems(tables, layer) == [
        (CENTERS, "center kc-missouri", "backup cycle: kc-missouri -> kc-missouri")
    ]


def test_backup_chain_must_end_at_the_national_line(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        "backups: [mo-statewide, national]\n\n  - id: stl",
        "backups: [mo-statewide]\n\n  - id: stl",
    )

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center kc-missouri",
            "backups: must end at the national backup line 'national'",
        )
    ]


def test_center_without_backups_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        '    hours: "24/7"\n    backups: [national]\n\n  - id: kc-kansas',
        '    hours: "24/7"\n\n  - id: kc-kansas',
    )

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center ks-statewide",
            "backups: must end at the national backup line 'national'",
        )
    ]


def test_national_line_must_be_the_last_backup(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        "backups: [ks-statewide, national]\n\n  - id: kc-missouri",
        "backups: [national, ks-statewide]\n\n  - id: kc-missouri",
    )

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center kc-kansas",
            "backups: the national backup line 'national' must come last",
        )
    ]


def test_backup_listed_twice_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        "backups: [ks-statewide, national]\n\n  - id: kc-missouri",
        "backups: [ks-statewide, ks-statewide, national]\n\n  - id: kc-missouri",
    )

    assert problems(tables, layer) == [
        (CENTERS, "center kc-kansas", "backups: lists 'ks-statewide' more than once")
    ]


def test_national_line_has_no_backups(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        "    national_backup: true",
        "    national_backup: true\n    backups: [stl]",
    )

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center national",
            "backups: the national backup line has none (every chain ends there)",
        )
    ]


def test_exactly_one_center_is_the_national_line(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CENTERS, "    national_backup: true", "")

    assert problems(tables, layer) == [
        (CENTERS, "centers", "no center is marked 'national_backup: true'; exactly one must be")
    ]


def test_two_national_lines_are_reported(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        '    hours: "24/7"\n    backups: [national]\n\n  - id: kc-kansas',
        '    hours: "24/7"\n    national_backup: true\n\n  - id: kc-kansas',
    )

    assert problems(tables, layer) == [
        (
            CENTERS,
            "centers",
            "exactly one center may be marked 'national_backup: true', not ks-statewide, national",
        )
    ]


# --------------------------------------------------------------------------------------------
# Counties and catchments


def test_county_claimed_twice_at_the_same_priority_names_both_centers(
    tables: Path, layer: CountyLayer
) -> None:
    edit(tables / CATCHMENTS, "center: kc-missouri\n    priority: 10\n", "center: kc-missouri\n")

    assert problems(tables, layer) == [
        (
            CATCHMENTS,
            "catchments of mo-statewide and kc-missouri",
            "4 counties claimed by more than one center at priority 0: Cass County (29037), "
            "Clay County (29047), Jackson County (29095), Platte County (29165); give one a "
            "higher priority or remove the county from the other",
        )
    ]


def test_forgotten_exception_is_one_problem_naming_each_county(
    tables: Path, layer: CountyLayer
) -> None:
    edit(
        tables / CATCHMENTS,
        '    except:\n      - "20209"  # Wyandotte County\n      - "20091"  # Johnson County\n',
        "",
    )

    assert problems(tables, layer) == [
        (
            CATCHMENTS,
            "catchments of ks-statewide and kc-kansas",
            "2 counties claimed by more than one center at priority 0: Johnson County (20091), "
            "Wyandotte County (20209); give one a higher priority or remove the county from "
            "the other",
        )
    ]


def test_uncovered_counties_of_a_configured_state_are_named(
    tables: Path, layer: CountyLayer
) -> None:
    edit(
        tables / CATCHMENTS,
        '      - "20209"  # Wyandotte County\n      - "20091"  # Johnson County\n\n  - center: mo',
        '      - "20209"  # Wyandotte County\n\n  - center: mo',
    )

    assert problems(tables, layer) == [
        (CATCHMENTS, "state KS", "1 county served by no center: Johnson County (20091)")
    ]


def test_a_state_with_one_claimed_county_must_be_covered_whole(
    tables: Path, layer: CountyLayer
) -> None:
    edit(
        tables / CATCHMENTS,
        '      - "20091"  # Johnson County\n\n  - center: mo-statewide',
        '      - "20091"  # Johnson County\n      - "31055"  # Douglas County, NE\n\n'
        "  - center: mo-statewide",
    )

    (problem,) = problems(tables, layer)

    assert problem[:2] == (CATCHMENTS, "state NE")
    assert problem[2].startswith("92 counties served by no center: Adams County (31001), ")


def test_unknown_fips_code_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CATCHMENTS, '"29099"', '"29999"')

    # 29099 is then claimed by nobody: the consequence is reported too.
    assert problems(tables, layer) == [
        (CATCHMENTS, "catchment #5 (stl)", "counties: unknown county FIPS code '29999'"),
    ]


def test_malformed_fips_code_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / PSAPS, 'counties: ["20045"]', 'counties: ["2045"]')

    assert problems(tables, layer) == [
        (
            PSAPS,
            "psap douglas-911",
            "counties: '2045' is not a 5-digit county FIPS code such as \"20209\"",
        )
    ]


def test_unquoted_fips_codes_are_accepted(tables: Path, layer: CountyLayer) -> None:
    edit(tables / PSAPS, 'counties: ["20045"]', "counties: [20045]")

    assert load_tables(tables, layer).psaps["douglas-911"].service_area == ("20045",)


def test_exception_outside_the_state_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CATCHMENTS,
        '      - "20091"  # Johnson County\n\n  - center: kc-kansas',
        '      - "20091"  # Johnson County\n      - "29095"\n\n  - center: kc-kansas',
    )

    assert problems(tables, layer) == [
        (CATCHMENTS, "catchment #1 (ks-statewide)", "except: county 29095 is not in KS")
    ]


def test_unknown_state_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CATCHMENTS, "state: MO", "state: XM")

    found = problems(tables, layer)

    assert found[0] == (
        CATCHMENTS,
        "catchment #3 (mo-statewide)",
        "state: unknown state 'XM' (use a USPS code such as KS)",
    )
    assert found[1][1] == "state MO"  # the rest of Missouri is then uncovered


def test_catchment_needs_counties_or_a_state_but_not_both(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CATCHMENTS,
        "  - center: mo-statewide\n    state: MO",
        '  - center: mo-statewide\n    state: MO\n    counties: ["29001"]',
    )

    assert problems(tables, layer) == [
        (
            CATCHMENTS,
            "catchment #3 (mo-statewide)",
            "give either 'counties' (a list of FIPS codes) or 'state' (such as KS), not both",
        ),
        (
            CATCHMENTS,
            "state MO",
            problems_uncovered_mo(layer),
        ),
    ]


def problems_uncovered_mo(layer: CountyLayer) -> str:
    metro = {"29095", "29047", "29165", "29037", "29189", "29510", "29183", "29099"}
    rest = [c for c in layer.in_state("MO") if c.fips not in metro]
    names = ", ".join(f"{c.name} ({c.fips})" for c in rest)
    return f"{len(rest)} counties served by no center: {names}"


# --------------------------------------------------------------------------------------------
# Overlays


def _write_overlay_ring(tables: Path, ring: list[tuple[float, float]]) -> None:
    coordinates = ", ".join(f"[{x}, {y}]" for x, y in ring)
    (tables / OVERLAY).write_text(
        f'{{"type": "Polygon", "coordinates": [[{coordinates}]]}}', encoding="utf-8"
    )


def test_self_intersecting_polygon_is_reported(tables: Path, layer: CountyLayer) -> None:
    bowtie = [(-95.85, 39.30), (-95.68, 39.43), (-95.68, 39.30), (-95.85, 39.43), (-95.85, 39.30)]
    _write_overlay_ring(tables, bowtie)
    reason = shapely.is_valid_reason(Polygon(bowtie))

    assert reason.startswith("Self-intersection")
    assert problems(tables, layer) == [
        (OVERLAY, "overlay prairie-nation-reservation", f"invalid polygon: {reason}")
    ]


def test_polygon_in_latitude_longitude_order_is_reported(tables: Path, layer: CountyLayer) -> None:
    _write_overlay_ring(
        tables, [(39.30, -95.85), (39.30, -95.68), (39.43, -95.68), (39.30, -95.85)]
    )

    assert problems(tables, layer) == [
        (
            OVERLAY,
            "overlay prairie-nation-reservation",
            "coordinates must be longitude, latitude in degrees (GeoJSON order)",
        )
    ]


def test_overlay_that_is_not_a_polygon_is_reported(tables: Path, layer: CountyLayer) -> None:
    (tables / OVERLAY).write_text('{"type": "Point", "coordinates": [-95.77, 39.37]}')

    assert problems(tables, layer) == [
        (
            OVERLAY,
            "overlay prairie-nation-reservation",
            "expected a Polygon or MultiPolygon, got Point",
        )
    ]


def test_overlay_file_that_is_not_json_is_reported(tables: Path, layer: CountyLayer) -> None:
    (tables / OVERLAY).write_text('{"type": "Polygon",\n "coordinates": [[}')

    assert problems(tables, layer) == [
        (
            OVERLAY,
            "overlay prairie-nation-reservation",
            "not valid GeoJSON: Expecting value: line 2 column 19 (char 38)",
        )
    ]


def test_missing_overlay_file_is_reported(tables: Path, layer: CountyLayer) -> None:
    (tables / OVERLAY).rename(tables / "overlays/elsewhere.geojson")
    edit(
        tables / CATCHMENTS,
        "file: overlays/prairie-nation-reservation.geojson",
        "file: overlays/prairie.geojson",
    )

    assert problems(tables, layer) == [
        (
            CATCHMENTS,
            "overlay prairie-nation-reservation",
            "file: 'overlays/prairie.geojson' does not exist",
        ),
        (
            "overlays/elsewhere.geojson",
            "file",
            "not used by any overlay in catchments.yaml; add one or remove it",
        ),
    ]


def test_overlay_file_outside_the_tables_directory_is_refused(
    tables: Path, layer: CountyLayer
) -> None:
    shutil.copy(tables / OVERLAY, tables.parent / "outside.geojson")
    edit(
        tables / CATCHMENTS,
        "file: overlays/prairie-nation-reservation.geojson",
        "file: ../outside.geojson",
    )
    (tables / OVERLAY).unlink()

    assert problems(tables, layer) == [
        (
            CATCHMENTS,
            "overlay prairie-nation-reservation",
            "file: '../outside.geojson' must be inside the tables directory",
        )
    ]


def test_duplicate_overlay_id_is_reported(tables: Path, layer: CountyLayer) -> None:
    with (tables / CATCHMENTS).open("a", encoding="utf-8") as f:
        f.write(
            "  - id: prairie-nation-reservation\n    name: Again\n    center: stl\n"
            f"    file: {OVERLAY}\n"
        )

    assert problems(tables, layer) == [
        (
            CATCHMENTS,
            "overlay prairie-nation-reservation",
            "id 'prairie-nation-reservation' is used by more than one entry",
        )
    ]


# --------------------------------------------------------------------------------------------
# Centers' fields


def test_hours_that_do_not_parse_are_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CENTERS, 'mon-fri: "08:00-17:00"', 'mon-fri: "8am-5pm"')

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center prairie-nation",
            "hours: '8am-5pm' is not a time range such as 08:00-20:00",
        )
    ]


def test_unknown_time_zone_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        "timezone: America/Chicago\n    hours:\n",
        "timezone: America/Chicgo\n    hours:\n",
    )

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center prairie-nation",
            "timezone: unknown time zone 'America/Chicgo' (an IANA name such as America/Chicago)",
        )
    ]


def test_unknown_time_zone_of_a_psap_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / PSAPS,
        '"29095"]  # Jackson County, MO\n    timezone: America/Chicago',
        '"29095"]  # Jackson County, MO\n    timezone: Central',
    )

    assert problems(tables, layer) == [
        (
            PSAPS,
            "psap kcmo-911",
            "timezone: unknown time zone 'Central' (an IANA name such as America/Chicago)",
        )
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("3", "ring_timeout_seconds: must be from 5 to 120, got 3"),
        ("600", "ring_timeout_seconds: must be from 5 to 120, got 600"),
        (
            '"30"',
            "ring_timeout_seconds: must be a whole number, got the text '30'",
        ),
    ],
)
def test_ring_timeout_must_be_sane(
    tables: Path, layer: CountyLayer, value: str, reason: str
) -> None:
    edit(tables / CENTERS, "ring_timeout_seconds: 30", f"ring_timeout_seconds: {value}")

    assert problems(tables, layer) == [(CENTERS, "center prairie-nation", reason)]


def test_language_must_be_a_two_letter_code(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CENTERS, "languages: [es]", "languages: [es, spanish]")

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center spanish-line",
            "languages: 'spanish' is not a two-letter language code such as en or es",
        )
    ]


def test_language_line_must_speak_its_language(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CENTERS, "es: spanish-line", "es: veterans-line")

    assert problems(tables, layer) == [
        (
            CENTERS,
            "specialty",
            "languages: the es line 'veterans-line' does not list 'es' in its languages",
        )
    ]


def test_duplicate_center_id_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CENTERS, "  - id: stl\n", "  - id: kc-missouri\n")

    found = problems(tables, layer)

    assert found[0] == (
        CENTERS,
        "center kc-missouri",
        "id 'kc-missouri' is used by more than one entry",
    )
    # Catchments, area codes and the partnership still name stl: each says so.
    assert {(f, reason) for f, _, reason in found[1:]} == {
        (CATCHMENTS, "unknown center 'stl'"),
        (AREA_CODES, "unknown center 'stl'"),
    }


def test_duplicate_psap_id_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / PSAPS, "  - id: douglas-911\n", "  - id: kcmo-911\n")

    found = problems(tables, layer)

    assert found[0] == (PSAPS, "psap kcmo-911", "id 'kcmo-911' is used by more than one entry")
    assert found[1:] == [
        (
            PARTNERSHIPS,
            "partnership douglas-911 -> ks-statewide",
            "unknown psap 'douglas-911'",
        )
    ]


# --------------------------------------------------------------------------------------------
# Partnerships


@pytest.mark.parametrize("risk", ["moderate", "higher"])
def test_moderate_or_higher_risk_may_never_be_listed(
    tables: Path, layer: CountyLayer, risk: str
) -> None:
    edit(
        tables / PARTNERSHIPS,
        "substance-use-support: [low]",
        f"substance-use-support: [low, {risk}]",
    )

    assert problems(tables, layer) == [
        (
            PARTNERSHIPS,
            "partnership douglas-911 -> ks-statewide",
            f"call_types: substance-use-support: '{risk}' risk can never transfer to 988; "
            "callers at moderate or higher risk stay with 911 (mobile crisis, CIT or EMS), "
            "so list only low and mild",
        )
    ]


def test_unknown_risk_level_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / PARTNERSHIPS, "substance-use-support: [low]", "substance-use-support: [lo]")

    assert problems(tables, layer) == [
        (
            PARTNERSHIPS,
            "partnership douglas-911 -> ks-statewide",
            "call_types: substance-use-support: unknown risk level 'lo' (use low or mild)",
        )
    ]


def test_call_type_without_risk_levels_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / PARTNERSHIPS, "substance-use-support: [low]", "substance-use-support: []")

    assert problems(tables, layer) == [
        (
            PARTNERSHIPS,
            "partnership douglas-911 -> ks-statewide",
            "call_types: substance-use-support must list risk levels, such as [low, mild]",
        )
    ]


def test_second_partnership_for_the_same_pair_is_reported(tables: Path, layer: CountyLayer) -> None:
    with (tables / PARTNERSHIPS).open("a", encoding="utf-8") as f:
        f.write(
            "\n  - psap: douglas-911\n    center: ks-statewide\n"
            "    call_types:\n      emotional-distress: [low]\n"
        )

    assert problems(tables, layer) == [
        (
            PARTNERSHIPS,
            "partnership douglas-911 -> ks-statewide",
            "this psap and center already have a partnership above",
        )
    ]


def test_each_sample_partnership_says_what_its_center_receives(sample: RoutingTables) -> None:
    everything = sample.partnerships[("wyandotte-911", "kc-kansas")].shares
    callback_only = sample.partnerships[("douglas-911", "ks-statewide")].shares
    unsaid = sample.partnerships[("kcmo-911", "kc-missouri")].shares

    assert everything == CenterShare(True, True, LocationPrecision.EXACT)
    assert callback_only == CenterShare(True, False, LocationPrecision.COUNTY)
    assert unsaid == CenterShare(False, False, LocationPrecision.COUNTY)


def test_a_wrong_share_with_center_is_reported_field_by_field(
    tables: Path, layer: CountyLayer
) -> None:
    edit(
        tables / PARTNERSHIPS,
        "      callback_number: true\n    call_types",
        "      callback_number: yes please\n      location: street\n      phone: true\n"
        "    call_types",
    )

    label = "partnership douglas-911 -> ks-statewide: share_with_center"
    assert problems(tables, layer) == [
        (PARTNERSHIPS, label, "unknown key 'phone'"),
        (PARTNERSHIPS, label, "callback_number: must be true or false, got the text 'yes please'"),
        (PARTNERSHIPS, label, "location: 'street' must be exact, county or none"),
    ]


# --------------------------------------------------------------------------------------------
# Area codes


def test_area_code_must_be_three_digits(tables: Path, layer: CountyLayer) -> None:
    edit(tables / AREA_CODES, '"975": mo-statewide', '"97": mo-statewide')

    assert problems(tables, layer) == [
        (AREA_CODES, "area code 97", "not an area code (three digits, the first 2 to 9)")
    ]


def test_unquoted_area_codes_are_accepted(tables: Path, layer: CountyLayer) -> None:
    edit(tables / AREA_CODES, '"975": mo-statewide', "975: mo-statewide")

    assert load_tables(tables, layer).area_codes["975"] == "mo-statewide"


# --------------------------------------------------------------------------------------------
# File and YAML structure


def test_yaml_syntax_error_names_the_file_and_line(tables: Path, layer: CountyLayer) -> None:
    unclosed = line_of(tables / PSAPS, 'numbers: ["+18165550130"]')
    edit(tables / PSAPS, 'numbers: ["+18165550130"]', 'numbers: ["+18165550130"')

    # PyYAML notices on the next line; the line of the unclosed list is named as well.
    assert problems(tables, layer) == [
        (
            PSAPS,
            f"line {unclosed + 1}",
            "not valid YAML: expected ',' or ']', but got '<scalar>' "
            f"(while parsing a flow sequence on line {unclosed})",
        ),
    ]


def test_a_key_given_twice_is_reported_with_its_line(tables: Path, layer: CountyLayer) -> None:
    first = line_of(tables / CENTERS, 'number: "+13145550104"')
    edit(
        tables / CENTERS,
        '    number: "+13145550104"\n',
        '    number: "+13145550104"\n    number: "+13145550109"\n',
    )

    assert problems(tables, layer) == [
        (
            CENTERS,
            f"line {first + 1}",
            f"not valid YAML: 'number' appears twice (first on line {first})",
        )
    ]


def test_missing_required_field_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CENTERS, '    number: "+13145550104"\n', "")

    assert problems(tables, layer) == [(CENTERS, "center stl", "missing required field 'number'")]


def test_misspelt_key_is_reported_not_ignored(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        "backups: [mo-statewide, national]\n\n  - id: mo-statewide",
        "backup: [mo-statewide, national]\n\n  - id: mo-statewide",
    )

    assert problems(tables, layer) == [
        (CENTERS, "center stl", "unknown key 'backup' (did you mean 'backups'?)"),
        (CENTERS, "center stl", "backups: must end at the national backup line 'national'"),
    ]


def test_misspelt_section_is_reported(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CENTERS, "specialty:", "speciality:")

    assert problems(tables, layer) == [
        (CENTERS, "file", "unknown key 'speciality' (did you mean 'specialty'?)")
    ]


def test_entry_that_is_not_a_mapping_is_reported(tables: Path, layer: CountyLayer) -> None:
    with (tables / PSAPS).open("a", encoding="utf-8") as f:
        f.write("  - just-a-name\n")

    assert problems(tables, layer) == [
        (
            PSAPS,
            "psap #4",
            "expected fields (id, name, numbers, escalation, counties, timezone, alternates), "
            "got the text 'just-a-name'",
        )
    ]


def test_misspelt_table_file_is_reported(tables: Path, layer: CountyLayer) -> None:
    (tables / PARTNERSHIPS).rename(tables / "partnership.yaml")

    assert problems(tables, layer) == [
        (
            "partnership.yaml",
            "file",
            "not a known table file (did you mean 'partnerships.yaml'?); the tables are "
            "centers.yaml, catchments.yaml, psaps.yaml, partnerships.yaml, area_codes.yaml",
        )
    ]


def test_missing_required_file_is_reported(tables: Path, layer: CountyLayer) -> None:
    (tables / CENTERS).unlink()

    assert problems(tables, layer) == [
        (CENTERS, "file", "missing: every table set needs this file")
    ]


def test_optional_files_may_be_left_out(tables: Path, layer: CountyLayer) -> None:
    for name in (PSAPS, PARTNERSHIPS, AREA_CODES):
        (tables / name).unlink()

    loaded = load_tables(tables, layer)

    assert (loaded.psaps, loaded.partnerships, loaded.area_codes) == ({}, {}, {})


def test_a_path_that_is_not_a_directory_is_reported(tmp_path: Path, layer: CountyLayer) -> None:
    assert problems(tmp_path / "nowhere", layer) == [
        (str(tmp_path / "nowhere"), "directory", "not a directory of routing tables")
    ]


def test_every_problem_is_reported_at_once(tables: Path, layer: CountyLayer) -> None:
    edit(tables / CENTERS, 'number: "+17855550101"', 'number: "+1 785 555 0101"')
    edit(
        tables / PSAPS,
        "timezone: America/Chicago\n\n  - id: kcmo-911",
        "timezone: Nowhere\n\n  - id: kcmo-911",
    )
    edit(tables / PARTNERSHIPS, "substance-use-support: [low]", "substance-use-support: [higher]")

    found = problems(tables, layer)

    assert [(f, entry) for f, entry, _ in found] == [
        (CENTERS, "center ks-statewide"),
        (PSAPS, "psap wyandotte-911"),
        (PARTNERSHIPS, "partnership douglas-911 -> ks-statewide"),
    ]


def test_error_message_lists_every_problem_for_the_administrator(
    tables: Path, layer: CountyLayer
) -> None:
    edit(tables / CENTERS, "specialty:", "speciality:")

    with pytest.raises(TablesInvalid) as info:
        load_tables(tables, layer)

    assert str(info.value) == (
        "1 problem(s) in the routing tables:\n"
        "  - centers.yaml: file: unknown key 'speciality' (did you mean 'specialty'?)"
    )


# --------------------------------------------------------------------------------------------
# Coverage report


def test_coverage_lists_each_centers_counties_by_fips_and_name(
    sample: RoutingTables, layer: CountyLayer
) -> None:
    report = coverage(sample, layer)

    by_center = {c.center_id: c for c in report.centers}
    assert [c.center_id for c in report.centers] == [
        "ks-statewide",
        "kc-kansas",
        "kc-missouri",
        "stl",
        "mo-statewide",
        "prairie-nation",
    ]
    assert [(c.fips, c.name) for c in by_center["kc-kansas"].counties] == [
        ("20091", "Johnson County"),
        ("20209", "Wyandotte County"),
    ]
    assert by_center["prairie-nation"].overlays == ("Sample Prairie Nation Reservation",)
    assert report.uncovered == {"KS": (), "MO": ()}


def test_coverage_of_one_state_leaves_out_the_others(
    sample: RoutingTables, layer: CountyLayer
) -> None:
    report = coverage(sample, layer, state="ks")

    assert report.state == "KS"
    assert [c.center_id for c in report.centers] == ["ks-statewide", "kc-kansas", "prairie-nation"]
    assert report.uncovered == {"KS": ()}


def test_coverage_of_an_unconfigured_state_lists_every_county_uncovered(
    sample: RoutingTables, layer: CountyLayer
) -> None:
    report = coverage(sample, layer, state="NE")

    assert report.centers == ()
    assert len(report.uncovered["NE"]) == 93


def test_coverage_refuses_an_unknown_state(sample: RoutingTables, layer: CountyLayer) -> None:
    with pytest.raises(RoutingError, match="unknown state 'XX'"):
        coverage(sample, layer, state="XX")


def test_formatted_coverage_reads_one_county_per_line(
    sample: RoutingTables, layer: CountyLayer
) -> None:
    lines = format_coverage(coverage(sample, layer, state="KS")).splitlines()

    assert lines[0] == f"Routing tables {sample.version}: coverage of KS"
    assert lines[1] == "Sample Kansas Statewide Crisis Line (ks-statewide): 103 counties"
    assert lines[2] == "  20001  Allen County, KS"
    assert "Sample KC Kansas Crisis Line (kc-kansas): 2 counties" in lines
    assert "  overlay: Sample Prairie Nation Reservation (takes priority over counties)" in lines
    assert lines[-2:] == ["Counties no center serves:", "  KS: none"]


def test_formatted_coverage_names_uncovered_counties(
    sample: RoutingTables, layer: CountyLayer
) -> None:
    text = format_coverage(coverage(sample, layer, state="NE"))

    assert "  NE: 93 counties\n    31001  Adams County, NE\n" in text


# --------------------------------------------------------------------------------------------
# Whatever an administrator types, the answer is a list of problems, never a crash


FIELDS: list[tuple[str, tuple[str | int, ...]]] = [
    (CENTERS, ()),
    (CENTERS, ("centers",)),
    (CENTERS, ("centers", 5)),
    *(
        (CENTERS, ("centers", 5, key))
        for key in (
            "id",
            "name",
            "number",
            "timezone",
            "hours",
            "languages",
            "ring_timeout_seconds",
            "backups",
            "national_backup",
        )
    ),
    (CENTERS, ("centers", 8, "national_backup")),
    (CENTERS, ("specialty",)),
    (CENTERS, ("specialty", "languages")),
    (CENTERS, ("specialty", "veterans")),
    (CATCHMENTS, ("catchments",)),
    *((CATCHMENTS, ("catchments", 0, key)) for key in ("center", "state", "except", "priority")),
    (CATCHMENTS, ("catchments", 1, "counties")),
    (CATCHMENTS, ("overlays",)),
    *((CATCHMENTS, ("overlays", 0, key)) for key in ("id", "center", "file", "priority")),
    (PSAPS, ("psaps", 0)),
    *(
        (PSAPS, ("psaps", 0, key))
        for key in (
            "id",
            "numbers",
            "escalation",
            "alternates",
            "counties",
            "timezone",
        )
    ),
    (PARTNERSHIPS, ("partnerships", 0, "psap")),
    (PARTNERSHIPS, ("partnerships", 0, "call_types")),
    (PARTNERSHIPS, ("partnerships", 0, "call_types", "emotional-distress")),
    (AREA_CODES, ("area_codes",)),
    (AREA_CODES, ("area_codes", "913")),
    (AREA_CODES, ("states",)),
]

yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(FIELDS), value=yaml_values)
def test_any_value_in_any_field_gives_problems_never_a_crash(
    request: pytest.FixtureRequest, where: tuple[str, tuple[str | int, ...]], value: object
) -> None:
    # Through `request`: hypothesis prints its arguments on failure, and a layer's repr is huge.
    layer: CountyLayer = request.getfixturevalue("layer")
    file, path = where
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tables"
        shutil.copytree(DEFAULT_TABLES_DIR, root)
        data = yaml.safe_load((root / file).read_text(encoding="utf-8"))
        (root / file).write_text(yaml.safe_dump(_replace(data, path, value)), encoding="utf-8")
        try:
            load_tables(root, layer)
        except TablesInvalid as exc:
            assert exc.problems


@settings(max_examples=100, deadline=None)
@given(file=st.sampled_from([CENTERS, CATCHMENTS, PSAPS, PARTNERSHIPS, AREA_CODES]), text=st.text())
def test_any_text_as_a_table_file_gives_problems_never_a_crash(
    request: pytest.FixtureRequest, file: str, text: str
) -> None:
    layer: CountyLayer = request.getfixturevalue("layer")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tables"
        shutil.copytree(DEFAULT_TABLES_DIR, root)
        (root / file).write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_tables(root, layer)
        except TablesInvalid as exc:
            assert exc.problems


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)
rings = st.lists(st.tuples(st.floats(), st.floats()), max_size=6).map(
    lambda ring: [list(point) for point in ring]
)


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(["Polygon", "MultiPolygon", "Point", "Feature", "FeatureCollection"]),
    coordinates=json_values | st.lists(rings, max_size=2) | rings,
)
def test_any_overlay_geometry_gives_problems_never_a_crash(
    request: pytest.FixtureRequest, kind: str, coordinates: object
) -> None:
    layer: CountyLayer = request.getfixturevalue("layer")
    geojson = {"type": kind, "coordinates": coordinates, "features": coordinates}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tables"
        shutil.copytree(DEFAULT_TABLES_DIR, root)
        (root / OVERLAY).write_text(json.dumps(geojson), encoding="utf-8")
        try:
            load_tables(root, layer)
        except TablesInvalid as exc:
            assert exc.problems


def _replace(data: object, path: tuple[str | int, ...], value: object) -> object:
    if not path:
        return value
    head, rest = path[0], path[1:]
    assert isinstance(data, dict | list)
    data[head] = _replace(data[head], rest, value) if rest else value  # type: ignore[index]
    return data


# --------------------------------------------------------------------------------------------
# Holidays and temporary closures


PRAIRIE_HOURS = """    hours:
      mon-fri: "08:00-17:00"
    ring_timeout_seconds: 30"""


def test_a_centers_holidays_and_closures_are_read_with_its_hours(
    tables: Path, layer: CountyLayer
) -> None:
    edit(
        tables / CENTERS,
        PRAIRIE_HOURS,
        PRAIRIE_HOURS
        + """
    holidays:
      - {date: 2026-11-26, name: Thanksgiving Day, hours: closed}
    closures:
      - {from: "2026-12-01 08:00", until: "2026-12-01 12:00", reason: new phone system}""",
    )

    hours = load_tables(tables, layer).centers["prairie-nation"].hours

    assert [(h.day.isoformat(), h.name, h.spans) for h in hours.holidays] == [
        ("2026-11-26", "Thanksgiving Day", ())
    ]
    assert [c.reason for c in hours.closures] == ["new phone system"]


def test_a_mistaken_holiday_is_reported_on_its_center(tables: Path, layer: CountyLayer) -> None:
    edit(
        tables / CENTERS,
        PRAIRIE_HOURS,
        PRAIRIE_HOURS
        + "\n    holidays:\n      - {date: 2026-11-26, name: Thanksgiving, hours: shut}",
    )

    assert problems(tables, layer) == [
        (
            CENTERS,
            "center prairie-nation",
            "holidays: 2026-11-26: 'shut' is not a time range such as 08:00-20:00",
        )
    ]
