"""`gateway report ...` and `gateway store ...`, run through argparse as the lead wires them."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gateway.adapters.queueing import RQSink, event_queue, redis_connection
from gateway.adapters.store.models import TransferEvent
from gateway.adapters.store.repository import save_event
from gateway.report_cli import register_cli
from gateway.settings import Settings
from tests.store import factories as f


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


@pytest.fixture
def seeded(engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("DATABASE_URL", store_url)
    with Session(engine) as session, session.begin():
        for event in [*f.connected_first_choice("tr_1"), *f.declined_at_triage("tr_2")]:
            save_event(session, event)
    return engine


def test_report_summary_prints_json(seeded: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("report", "summary", "--json", "--by", "psap") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["group"], row["requested"], row["declined_at_triage"]) == ("psap-douglas", 2, 1)


def test_report_summary_prints_one_block_per_group(
    seeded: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("report", "summary", "--from", "2026-03-02", "--to", "2026-03-02") == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["declined_at_triage", "1"] in lines
    assert ["connect_rate", "1.0"] in lines


def test_report_volume_prints_a_table(seeded: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("report", "volume", "--period", "week") == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split() == ["period_start", "group", "requested", "transferred", "connected"]
    assert line.split() == ["2026-03-02", "-", "2", "1", "1"]


def test_report_csv_writes_the_export(seeded: Engine, tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    assert run("report", "csv", "-o", str(target)) == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [(r["transfer_id"], r["outcome"]) for r in rows] == [
        ("tr_1", "connected_first_choice"),
        ("tr_2", "declined_at_triage"),
    ]


def test_report_replay_writes_the_events_the_web_process_could_not_enqueue(
    seeded: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = redis_connection(Settings(redis_url="redis://127.0.0.1:1/0"))  # nothing listens
    lost = f.returned_to_911("tr_3")
    with caplog.at_level(logging.ERROR, logger="gateway.adapters.queueing"):
        for event in lost:
            RQSink(event_queue(dead)).emit(event)
    dead.close()
    logfile = tmp_path / "web.log"
    logfile.write_text(caplog.text + caplog.text)  # replayed twice: written once
    assert run("report", "replay", str(logfile)) == 0
    with Session(seeded) as session:
        count = session.scalar(select(func.count()).where(TransferEvent.transfer_id == "tr_3"))
    assert count == len(lost)


def test_store_purge_and_migrate_report_what_they_did(
    seeded: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("store", "migrate") == 0
    assert run("store", "purge") == 0
    out = capsys.readouterr().out
    assert "schema is up to date" in out
    assert "personal fields deleted from 2 transfers older than 90 days" in out


def test_a_bad_setting_is_a_message_and_exit_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    assert run("report", "summary") == 2
    assert "DATABASE_URL" in capsys.readouterr().err


def test_report_leaves_drills_out_unless_asked(
    seeded: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    drill = [replace(e, data={**e.data, "drill": True}) for e in f.returned_to_911("tr_d")]
    with Session(seeded) as session, session.begin():
        for event in drill:
            save_event(session, event)
    capsys.readouterr()
    assert run("report", "summary", "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["requested"] == 2
    assert run("report", "summary", "--json", "--include-drills") == 0
    assert json.loads(capsys.readouterr().out)[0]["requested"] == 3


def test_report_reads_its_dates_in_the_time_zone_given(
    seeded: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    # The transfers start at 14:00 UTC on 2 March: 03:00 on 3 March in Auckland (UTC+13).
    assert run("report", "summary", "--json", "--from", "2026-03-02", "--to", "2026-03-02",
               "--timezone", "Pacific/Auckland") == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) == []
