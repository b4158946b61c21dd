"""Warnings about table sets that load but would surprise an administrator later."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from routing.counties import CountyLayer
from routing.table_warnings import TableWarning, table_warnings
from routing.tables import DEFAULT_TABLES_DIR, load_tables
from tests.routing.test_tables import edit


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    target = tmp_path / "tables"
    shutil.copytree(DEFAULT_TABLES_DIR, target)
    return target


def warnings_of(path: Path, layer: CountyLayer, **keys: list[str]) -> list[TableWarning]:
    return table_warnings(load_tables(path, layer), **keys)


def test_the_sample_tables_have_no_warnings(county_layer: CountyLayer) -> None:
    assert warnings_of(DEFAULT_TABLES_DIR, county_layer) == []


def test_a_center_serving_a_psaps_county_without_any_partnership_is_warned_of(
    tables: Path, county_layer: CountyLayer
) -> None:
    edit(tables / "partnerships.yaml", "center: ks-statewide", "center: kc-kansas")

    assert warnings_of(tables, county_layer) == [
        TableWarning(
            "partnerships.yaml",
            "center ks-statewide",
            "serves county 20045 of psap douglas-911, but no partnership lets any PSAP "
            "transfer to it: every transfer routed to it will be refused",
        )
    ]


def test_keys_for_psaps_or_centers_the_tables_lack_are_warned_of(
    county_layer: CountyLayer,
) -> None:
    found = warnings_of(
        DEFAULT_TABLES_DIR,
        county_layer,
        psap_key_owners=["wyandotte-911", "wyandote-911"],
        center_key_owners=["kc-kansas", "kc-kanzas"],
    )

    assert [(w.file, w.entry) for w in found] == [
        ("PSAP_API_KEYS", "wyandote-911"),
        ("CENTER_API_KEYS", "kc-kanzas"),
    ]
    assert found[0].reason == "a key is given for psap 'wyandote-911', which the tables lack"


def test_a_psap_whose_local_centers_all_close_at_night_is_warned_of(
    tables: Path, county_layer: CountyLayer
) -> None:
    # Douglas County's center closes at 20:00 on weekdays and its only backup is national.
    edit(
        tables / "centers.yaml",
        '''  - id: ks-statewide
    name: Sample Kansas Statewide Crisis Line
    number: "+17855550101"
    timezone: America/Chicago
    hours: "24/7"''',
        '''  - id: ks-statewide
    name: Sample Kansas Statewide Crisis Line
    number: "+17855550101"
    timezone: America/Chicago
    hours:
      daily: "08:00-20:00"''',
    )

    found = [w for w in warnings_of(tables, county_layer) if w.file == "psaps.yaml"]

    assert [(w.entry, w.reason) for w in found] == [
        (
            "psap douglas-911",
            "no center serving county 20045 is open on mon 20:00 (America/Chicago): "
            "its callers go straight to the national line then",
        ),
        # Wyandotte's kc-kansas is 24/7: its backups closing does not leave it alone.
    ]


def test_a_backup_open_when_the_local_center_closes_leaves_no_gap(
    tables: Path, county_layer: CountyLayer
) -> None:
    # kc-kansas closes at night, but its backup ks-statewide answers 24/7.
    edit(
        tables / "centers.yaml",
        '''    number: "+19135550102"
    timezone: America/Chicago
    hours: "24/7"''',
        '''    number: "+19135550102"
    timezone: America/Chicago
    hours:
      fri-mon: "22:00-06:00"''',
    )

    assert warnings_of(tables, county_layer) == []
