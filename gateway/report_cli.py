"""The `gateway report ...` and `gateway store ...` commands.

gateway report summary [--from 2026-03-01] [--to 2026-03-31] [--by psap] [--json]
gateway report volume [--period week] [--by center] [--json]
gateway report csv [--from ...] [--to ...] [-o transfers.csv]
    each also [--timezone America/Chicago] (the dates' zone; UTC by default) and
    [--include-drills] (drills and demos are left out by default: docs/reports.md)
gateway report replay LOGFILE        # events the web process could not enqueue
gateway store migrate                # create or upgrade the schema
gateway store purge                  # delete personal fields older than RETENTION_DAYS
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.adapters.store.db import create_store_engine
from gateway.adapters.store.reports import (
    GROUPINGS,
    Period,
    export_rows,
    summary,
    volume,
    write_csv,
)
from gateway.adapters.store.repository import purge_personal_fields, save_event
from gateway.adapters.store.schema import migrate
from gateway.domain.events import Event, EventDataError
from gateway.settings import Settings, SettingsError

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
REPLAY_MARKER = "replay it: "  # what gateway.adapters.queueing.RQSink logs before the event


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `report` and `store` commands to an argparse subparsers object."""
    _register_report(subparsers)
    _register_store(subparsers)


def _register_report(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser("report", help="partnership figures from the store")
    commands = report.add_subparsers(dest="report_command", required=True)
    for name, handler, text in (
        ("summary", cmd_summary, "volume, answer and connect rates, times to answer/accept"),
        ("volume", cmd_volume, "transfers per day or week"),
        ("csv", cmd_csv, "one row per transfer, for a data-sharing agreement"),
    ):
        parser = commands.add_parser(name, help=text)
        _period_arguments(parser)
        parser.set_defaults(handler=handler)
        if name != "csv":
            parser.add_argument("--by", choices=GROUPINGS, default="all")
            parser.add_argument("--json", action="store_true", help="print JSON")
    commands.choices["volume"].add_argument("--period", choices=("day", "week"), default="day")
    commands.choices["csv"].add_argument("-o", "--output", help="file (default: stdout)")
    replay = commands.add_parser("replay", help="write events logged as not enqueued")
    replay.add_argument("logfile", help="a log file with 'event not enqueued' lines")
    replay.set_defaults(handler=cmd_replay)


def _register_store(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = subparsers.add_parser("store", help="the durable store's schema and retention")
    commands = store.add_subparsers(dest="store_command", required=True)
    commands.add_parser("migrate", help="create or upgrade the schema").set_defaults(
        handler=cmd_migrate
    )
    commands.add_parser("purge", help="delete personal fields past retention").set_defaults(
        handler=cmd_purge
    )


def _period_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="first", type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, help="YYYY-MM-DD (included)")
    parser.add_argument("--timezone", type=_zone, default="UTC", help="the dates' time zone")
    parser.add_argument("--include-drills", action="store_true", help="count drills and demos too")


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise argparse.ArgumentTypeError(f"{name!r} is not a time zone") from None
    return name


def _period(args: argparse.Namespace) -> Period:
    return Period(args.first, args.last, args.timezone, args.include_drills)


def _guarded(run: Any) -> Any:
    """Turn configuration and database errors into a message and an exit status."""

    def handler(args: argparse.Namespace) -> int:
        try:
            code: int = run(args, Settings.from_env())
            return code
        except SettingsError as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except SQLAlchemyError as exc:
            print(f"gateway: database error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILED

    handler.__doc__ = run.__doc__
    return handler


def _engine(settings: Settings) -> Engine:
    return create_store_engine(settings.database_url)


def _print_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        print("(no transfers in this period)", file=out)
        return
    names = list(rows[0])
    widths = [max(len(n), *(len(_cell(r[n])) for r in rows)) for n in names]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)), file=out)
    for row in rows:
        cells = [_cell(row[n]).ljust(w) for n, w in zip(names, widths, strict=True)]
        print("  ".join(cells), file=out)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _show(rows: list[dict[str, Any]], as_json: bool, transpose: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
    elif transpose:  # a summary has many columns: one block per group reads better
        for row in rows:
            width = max(len(name) for name in row)
            for name, value in row.items():
                print(f"{name.ljust(width)}  {_cell(value)}")
            print()
        if not rows:
            print("(no transfers in this period)")
    else:
        _print_table(rows, sys.stdout)


@_guarded
def cmd_summary(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings)
    with Session(engine) as session:
        rows = summary(session, _period(args), args.by)
    engine.dispose()
    _show([row.to_dict() for row in rows], args.json, transpose=True)
    return 0


@_guarded
def cmd_volume(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings)
    with Session(engine) as session:
        rows = volume(session, _period(args), args.period, args.by)
    engine.dispose()
    _show([row.to_dict() for row in rows], args.json, transpose=False)
    return 0


@_guarded
def cmd_csv(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings)
    with Session(engine) as session:
        rows = export_rows(session, _period(args))
        if args.output:
            with Path(args.output).open("w", encoding="utf-8", newline="") as out:
                count = write_csv(rows, out)
            print(f"{count} transfers written to {args.output}", file=sys.stderr)
        else:
            write_csv(rows, sys.stdout)
    engine.dispose()
    return 0


def logged_events(lines: Iterator[str]) -> Iterator[Event]:
    """The events in `RQSink`'s "event not enqueued ... replay it: {json}" log lines."""
    for line in lines:
        _, marker, payload = line.partition(REPLAY_MARKER)
        if marker:
            yield Event.from_json(payload.strip())


@_guarded
def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings)
    migrate(engine)
    written = duplicates = 0
    try:
        with Path(args.logfile).open(encoding="utf-8") as lines:
            for event in logged_events(lines):
                with Session(engine) as session, session.begin():
                    new = save_event(session, event)
                written, duplicates = written + new, duplicates + (not new)
    except (OSError, EventDataError) as exc:
        print(f"gateway: {args.logfile}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        engine.dispose()
    print(f"{written} events written, {duplicates} already stored")
    return 0


@_guarded
def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings)
    migrate(engine)
    engine.dispose()
    print("the store's schema is up to date")
    return 0


@_guarded
def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    engine = _engine(settings)
    with Session(engine) as session, session.begin():
        purged = purge_personal_fields(session, settings.retention_days)
    engine.dispose()
    print(
        f"personal fields deleted from {purged} transfers older than {settings.retention_days} days"
    )
    return 0
