"""The `gateway` command (also `python -m gateway`).

gateway route --lat 39.11 --lon -94.63 --radius-m 300 --caller +18165550123 --json
gateway route --batch points.csv --json
gateway tables validate [PATH]
gateway tables coverage [--state KS]
gateway demo
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from carrier_sim.cli import register_cli as register_simulator_cli
from gateway.ops_cli import register_cli as register_ops_cli
from gateway.report_cli import register_cli as register_report_cli
from gateway.settings import Settings, SettingsError
from gateway.tables.cli import register_cli as register_tables_cli
from gateway.tables.service import VersionError
from routing.engine import Decision, Router
from routing.errors import RoutingError, TablesInvalid
from routing.location import Civic, LocationQuery, Point, Shape

EXIT_BAD_INPUT = 2


def _router(settings: Settings) -> Router:
    # The active published version when the store has one, else ROUTING_TABLES (issue 12).
    from gateway.tables.startup import command_router

    return command_router(settings)


# -- route ----------------------------------------------------------------------------------


def _query_from_args(args: argparse.Namespace) -> LocationQuery:
    geo: Point | Shape | None = None
    civic: Civic | None = None
    notes: tuple[str, ...] = ()
    if (args.lat is None) != (args.lon is None):
        raise RoutingError("give both --lat and --lon, or neither")
    if args.lat is not None:
        geo = Point(args.lat, args.lon, args.radius_m)
    elif args.radius_m is not None:
        raise RoutingError("--radius-m needs --lat and --lon")
    if args.pidf:
        from routing.pidf import parse_pidf

        parsed = parse_pidf(Path(args.pidf).read_bytes())
        geo = geo or parsed.geo
        civic, notes = parsed.civic, parsed.notes
    if args.zip:
        civic = Civic(postal_code=args.zip)
    return LocationQuery(
        geo=geo,
        civic=civic,
        notes=notes,
        psap_id=args.psap,
        caller=args.caller,
        language=args.language,
        veteran=args.veteran,
        at=_parse_time(args.at) if args.at else None,
    )


def _parse_time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise RoutingError(f"--at {text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise RoutingError(f"--at {text!r} needs a UTC offset, e.g. 2026-11-25T14:00-06:00")
    return at


def _print_decision(decision: Decision, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(decision.to_dict(), ensure_ascii=False), file=out)
        return
    print(decision.explanation, file=out)
    print(f"  dial {decision.center_name} ({decision.number}) first", file=out)
    print(f"  then {' → '.join(decision.dial_plan[1:]) or 'nothing else'}", file=out)


def _batch_rows(handle: TextIO, router: Router) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(handle)
    missing = {"lat", "lon"} - set(reader.fieldnames or ())
    if missing:
        raise RoutingError(
            f"the CSV needs columns lat and lon (missing: {', '.join(sorted(missing))})"
        )
    for number, row in enumerate(reader, start=1):
        try:
            radius = row.get("radius_m") or None
            point = Point(
                _number(row["lat"]), _number(row["lon"]), _number(radius) if radius else None
            )
            decision = router.route(LocationQuery(geo=point, caller=row.get("caller") or None))
            yield {"row": number, **decision.to_dict()}
        except RoutingError as exc:
            yield {"row": number, "error": str(exc)}


def _number(text: str | None) -> float:
    try:
        return float(text or "")
    except ValueError:
        raise RoutingError(f"{text!r} is not a number") from None


def cmd_route(args: argparse.Namespace, settings: Settings) -> int:
    router = _router(settings)
    if args.batch:
        with open(args.batch, newline="", encoding="utf-8") as handle:
            for result in _batch_rows(handle, router):
                print(json.dumps(result, ensure_ascii=False))
        return 0
    _print_decision(router.route(_query_from_args(args)), args.json, sys.stdout)
    return 0


# -- tables ---------------------------------------------------------------------------------


def cmd_tables_validate(args: argparse.Namespace, settings: Settings) -> int:
    from routing.counties import load_layer
    from routing.table_warnings import table_warnings
    from routing.tables import load_tables

    path = Path(args.path) if args.path else settings.tables_dir
    tables = load_tables(path, load_layer(settings.county_layer, settings.extra_county_layers))
    print(
        f"{path}: valid (version {tables.version}): {len(tables.centers)} centers, "
        f"{len(tables.county_centers)} counties, {len(tables.overlays)} overlays, "
        f"{len(tables.psaps)} PSAPs, {len(tables.partnerships)} partnerships"
    )
    keys = settings.flow.psap_api_keys.values(), settings.flow.center_api_keys.values()
    for warning in table_warnings(tables, *keys):
        print(f"warning: {warning}")
    return 0


def cmd_tables_coverage(args: argparse.Namespace, settings: Settings) -> int:
    from routing.counties import load_layer
    from routing.tables import coverage, format_coverage, load_tables

    layer = load_layer(settings.county_layer, settings.extra_county_layers)
    if args.path:
        tables = load_tables(Path(args.path), layer)
    else:  # the active published version, else ROUTING_TABLES (issue 12)
        from gateway.tables.startup import command_tables

        tables = command_tables(settings, layer)
    state = args.state.upper() if args.state else None
    print(format_coverage(coverage(tables, layer, state)))
    return 0


# -- demo ---------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.demo import run

    return run(settings)


# -- entry point ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="911 → 988 transfer gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    route = commands.add_parser("route", help="decide which 988 center serves a caller")
    route.add_argument("--lat", type=float)
    route.add_argument("--lon", type=float)
    route.add_argument("--radius-m", type=float, help="uncertainty radius in metres")
    route.add_argument("--caller", help="caller's number, E.164 (for the area-code comparison)")
    route.add_argument("--psap", help="id of the transferring PSAP")
    route.add_argument("--zip", help="5-digit ZIP code")
    route.add_argument("--pidf", help="file holding a PIDF-LO document")
    route.add_argument("--language", help="ISO 639-1 code, e.g. es")
    route.add_argument("--veteran", action="store_true", help="caller asked for the veterans line")
    route.add_argument("--at", help="ISO 8601 time with offset (default: now)")
    route.add_argument("--batch", help="CSV with columns lat,lon[,radius_m,caller]: JSON Lines out")
    route.add_argument("--json", action="store_true", help="print one JSON object")
    route.set_defaults(func=cmd_route)

    tables = commands.add_parser("tables", help="check the routing tables")
    tables_commands = tables.add_subparsers(dest="tables_command", required=True)
    validate = tables_commands.add_parser("validate", help="validate a tables directory")
    validate.add_argument("path", nargs="?")
    validate.set_defaults(func=cmd_tables_validate)
    cover = tables_commands.add_parser("coverage", help="which counties each center covers")
    cover.add_argument("path", nargs="?", help="a tables directory (default: the active version)")
    cover.add_argument("--state", help="USPS code, e.g. KS")
    cover.set_defaults(func=cmd_tables_coverage)
    register_tables_cli(tables_commands)

    demo = commands.add_parser(
        "demo", help="the Kansas City case end to end on the carrier simulator (make run)"
    )
    demo.set_defaults(func=cmd_demo)

    register_simulator_cli(commands)
    register_report_cli(commands)
    register_ops_cli(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "handler", None) is not None:  # the simulator's and the store's commands
        code: int = args.handler(args)
        return code
    try:
        settings = Settings.from_env()
        result: int = args.func(args, settings)
        return result
    except TablesInvalid as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (RoutingError, SettingsError, VersionError, OSError) as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc)}))
        print(f"gateway: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
