"""`gateway tables publish | versions | diff | rollback | log`, and which tables commands use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.adapters.store.engines import dispose_engines
from gateway.cli import main
from gateway.settings import Settings
from gateway.tables.startup import start_router
from routing.tables import DEFAULT_TABLES_DIR
from tests.routing.test_tables import edit


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A SQLite store of the test's own, named by DATABASE_URL (not created yet)."""
    path = tmp_path / "store.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    yield path
    dispose_engines()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def publish(capsys: pytest.CaptureFixture[str], path: Path, by: str, note: str) -> str:
    code, out, err = run(capsys, "tables", "publish", str(path), "--by", by, "--note", note)
    assert code == 0, err
    return out.strip()


def test_publish_rollback_and_route_carry_the_same_version_id(
    store: Path, tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = publish(capsys, DEFAULT_TABLES_DIR, "alice", "first set")
    edit(tables / "centers.yaml", "Sample KC Kansas Crisis Line", "Renamed KC Line")
    second = publish(capsys, tables, "bob", "rename")

    code, out, err = run(capsys, "route", "--zip", "66101", "--json")
    assert code == 0
    assert json.loads(out)["tables_version"] == second  # stdout is the JSON alone
    assert err == f"routing tables: published version {second} (active)\n"

    assert run(capsys, "tables", "rollback", first, "--by", "carol", "--note", "too soon")[0] == 0
    code, out, _ = run(capsys, "route", "--zip", "66101", "--json")
    assert json.loads(out)["tables_version"] == first

    _, listing, _ = run(capsys, "tables", "versions")
    lines = listing.splitlines()
    assert lines[0].startswith(second) and "bob" in lines[0] and lines[0].endswith("rename")
    assert lines[1].startswith(first) and "active" in lines[1]
    _, log, _ = run(capsys, "tables", "log")
    assert [line.split()[2:4] for line in log.splitlines()] == [
        ["carol", "rollback"],
        ["bob", "publish"],
        ["alice", "publish"],
    ]
    _, changes, _ = run(capsys, "tables", "diff", first, second)
    assert changes.splitlines() == [
        "centers.yaml: center kc-kansas: changed",
        '    name: "Sample KC Kansas Crisis Line" -> "Renamed KC Line"',
    ]


def test_route_without_a_store_uses_routing_tables_and_creates_no_store(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "route", "--zip", "66101", "--json")

    assert code == 0
    assert json.loads(out)["center_id"] == "kc-kansas"
    assert err == f"routing tables: {DEFAULT_TABLES_DIR} (ROUTING_TABLES; none published)\n"
    assert not store.exists()


def test_publishing_a_bad_set_prints_every_problem_and_exits_1(
    store: Path, tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(tables / "centers.yaml", '"+19135550102"', '"+1913555"')

    code, out, err = run(capsys, "tables", "publish", str(tables), "--by", "bob", "--note", "x")

    assert (code, out) == (1, "")
    assert "+1913555" in err


def test_rolling_back_to_an_unknown_version_is_a_clear_error(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish(capsys, DEFAULT_TABLES_DIR, "alice", "first set")

    code, _, err = run(capsys, "tables", "rollback", "nope", "--by", "carol", "--note", "x")

    assert code == 2
    assert err == "gateway: no published version 'nope'\n"


def test_a_restarting_process_starts_from_the_store_never_from_bad_files_on_disk(
    store: Path, tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = publish(capsys, DEFAULT_TABLES_DIR, "alice", "first set")
    edit(tables / "centers.yaml", '"+19135550102"', '"+1913555"')  # broken on disk
    settings = Settings(tables_dir=tables, database_url=f"sqlite:///{store}")

    router = start_router(settings)

    assert router.tables.version == good
    assert router.tables.source == f"published version {good}"


def test_the_first_process_imports_routing_tables_as_the_first_version(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=f"sqlite:///{store}")

    router = start_router(settings)

    _, listing, _ = run(capsys, "tables", "versions")
    assert listing.startswith(f"{router.tables.version}  ")
    assert "gateway" in listing and "first version, imported from ROUTING_TABLES" in listing


def test_coverage_reports_the_active_version_or_a_folder_given(
    store: Path, tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(tables / "centers.yaml", "Sample KC Kansas Crisis Line", "Renamed KC Line")
    second = publish(capsys, tables, "bob", "rename")

    code, out, err = run(capsys, "tables", "coverage", "--state", "KS")
    assert code == 0
    assert out.startswith(f"Routing tables {second}: coverage of KS")
    assert "Renamed KC Line (kc-kansas): 2 counties" in out
    assert err == f"routing tables: published version {second} (active)\n"

    code, out, _ = run(capsys, "tables", "coverage", str(DEFAULT_TABLES_DIR), "--state", "KS")
    assert "Sample KC Kansas Crisis Line (kc-kansas): 2 counties" in out
