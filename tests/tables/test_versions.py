"""Published table versions: publish, list, compare, roll back, schedule, import once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.tables.diff import diff
from gateway.tables.service import TableVersions, VersionError
from routing.counties import CountyLayer
from routing.engine import Router, Snapshot
from routing.errors import TablesInvalid
from routing.index import CountyIndex
from routing.location import LocationQuery
from routing.tables import DEFAULT_TABLES_DIR, load_tables, read_table_files
from tests.routing.test_tables import edit

KCK_ZIP = "66101"


def renamed(tables: Path, name: str = "Renamed KC Line") -> Path:
    edit(tables / "centers.yaml", "Sample KC Kansas Crisis Line", name)
    return tables


def test_a_published_version_is_active_and_its_id_is_the_tables_version(
    versions: TableVersions, county_layer: CountyLayer
) -> None:
    version_id = versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")

    assert version_id == load_tables(DEFAULT_TABLES_DIR, county_layer).version
    assert versions.active_id() == version_id
    (listed,) = versions.listed()
    assert listed.active
    assert (listed.info.published_by, listed.info.note) == ("alice", "first set")
    assert listed.info.content_hash.startswith(version_id) and len(listed.info.content_hash) == 64
    assert versions.tables(version_id).version == version_id


def test_a_version_keeps_its_files_byte_for_byte(versions: TableVersions) -> None:
    version_id = versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")

    assert versions.files(version_id) == read_table_files(DEFAULT_TABLES_DIR)


def test_a_bad_table_set_is_refused_and_nothing_changes(
    versions: TableVersions, tables: Path
) -> None:
    good = versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")
    edit(tables / "centers.yaml", '"+19135550102"', '"+1913555"')

    with pytest.raises(TablesInvalid, match=r"\+1913555"):
        versions.publish_folder(tables, "bob", "broken")

    assert [v.info.id for v in versions.listed()] == [good]
    assert versions.active_id() == good


def test_a_rollback_makes_routing_carry_the_earlier_version_id_again(
    versions: TableVersions, tables: Path, county_layer: CountyLayer, county_index: CountyIndex
) -> None:
    first = versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")
    second = versions.publish_folder(renamed(tables), "bob", "rename the KC line")
    assert versions.active_id() == second

    versions.activate(first, "carol", "the rename was premature")

    assert versions.active_id() == first
    router = Router(Snapshot(county_layer, county_index, versions.tables(first)))
    decision = router.route(LocationQuery(civic=None, psap_id="wyandotte-911"))
    assert decision.tables_version == first
    assert [(e.by, e.action, e.version_id) for e in versions.audit()] == [
        ("carol", "rollback", first),
        ("bob", "publish", second),
        ("alice", "publish", first),
    ]


def test_republishing_an_identical_set_reactivates_its_version(
    versions: TableVersions, tables: Path
) -> None:
    first = versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")
    versions.publish_folder(renamed(tables), "bob", "rename")

    again = versions.publish_folder(DEFAULT_TABLES_DIR, "carol", "back to the original")

    assert again == first
    assert versions.active_id() == first
    assert len(versions.listed()) == 2
    assert versions.audit()[0].action == "republish"


def test_an_unknown_version_cannot_be_activated(versions: TableVersions) -> None:
    versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")

    with pytest.raises(VersionError, match="no published version 'abc'"):
        versions.activate("abc", "carol", "typo")


@pytest.mark.parametrize(("by", "note"), [("", "why"), ("alice", "  ")])
def test_a_change_needs_a_name_and_a_note(versions: TableVersions, by: str, note: str) -> None:
    with pytest.raises(VersionError, match="required"):
        versions.publish_folder(DEFAULT_TABLES_DIR, by, note)


def test_a_version_with_an_effective_time_becomes_active_only_then(
    engine: Engine, county_layer: CountyLayer, tables: Path
) -> None:
    now = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    versions = TableVersions(engine, county_layer, clock=lambda: now[0])
    first = versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")
    later = now[0] + timedelta(hours=2)

    scheduled = versions.publish_folder(renamed(tables), "bob", "at the shift change", later)

    assert versions.active_id() == first
    now[0] = later
    assert versions.active_id() == scheduled


def test_an_effective_time_in_the_past_is_refused(versions: TableVersions) -> None:
    with pytest.raises(VersionError, match="in the past"):
        versions.publish_folder(
            DEFAULT_TABLES_DIR, "alice", "late", datetime(2020, 1, 1, tzinfo=UTC)
        )


def test_processes_starting_together_on_an_empty_store_import_exactly_one_first_version(
    store_url: str, county_layer: CountyLayer
) -> None:
    from gateway.adapters.store.db import create_store_engine

    barrier = threading.Barrier(4)
    results: list[str | None] = []

    def start() -> None:
        engine = create_store_engine(store_url)  # each "process" has its own connections
        try:
            barrier.wait()
            results.append(TableVersions(engine, county_layer).ensure_active(DEFAULT_TABLES_DIR))
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    engine = create_store_engine(store_url)
    versions = TableVersions(engine, county_layer)
    assert len(set(results)) == 1 and results[0] is not None
    assert [v.info.id for v in versions.listed()] == results[:1]
    assert [e.action for e in versions.audit()] == ["import"]
    engine.dispose()


def test_the_first_import_happens_only_on_an_empty_store(
    versions: TableVersions, tables: Path
) -> None:
    published = versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")

    assert versions.ensure_active(renamed(tables)) == published
    assert len(versions.listed()) == 1


def test_diff_lists_each_changed_added_and_removed_entry(tables: Path) -> None:
    before = read_table_files(DEFAULT_TABLES_DIR)
    renamed(tables)
    edit(tables / "psaps.yaml", '    alternates: ["+17855550142", "+17855550143"]\n', "")
    edit(
        tables / "partnerships.yaml",
        "      substance-use-support: [low]\n",
        "      substance-use-support: [low, mild]\n",
    )

    changes = [str(c) for c in diff(before, read_table_files(tables))]

    assert changes == [
        'centers.yaml: center kc-kansas: changed\n    name: "Sample KC Kansas Crisis Line" -> '
        '"Renamed KC Line"',
        "partnerships.yaml: partnership douglas-911 -> ks-statewide: changed\n"
        '    call_types: {"emotional-distress": ["low", "mild"], "mental-health-information": '
        '["low"], "substance-use-support": ["low"]} -> {"emotional-distress": ["low", "mild"], '
        '"mental-health-information": ["low"], "substance-use-support": ["low", "mild"]}',
        'psaps.yaml: psap douglas-911: changed\n    alternates: ["+17855550142", "+17855550143"]'
        " -> (none)",
    ]
