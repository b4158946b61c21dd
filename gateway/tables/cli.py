"""`gateway tables publish | versions | diff | rollback | log`: published versions by hand.

Each command works on the store at DATABASE_URL (created and migrated on first use).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gateway.settings import Settings
from gateway.tables.diff import diff
from gateway.tables.service import TableVersions, parse_effective


def versions_service(settings: Settings) -> TableVersions:
    """The table versions in the store of `settings`, checked against its county layer."""
    from gateway.adapters.store.engines import store_engine
    from routing.counties import load_layer

    layer = load_layer(settings.county_layer, settings.extra_county_layers)
    return TableVersions(store_engine(settings), layer)


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.path) if args.path else settings.tables_dir
    effective = parse_effective(args.effective, "--effective")
    version_id = versions_service(settings).publish_folder(path, args.by, args.note, effective)
    print(version_id)
    return 0


def cmd_versions(args: argparse.Namespace, settings: Settings) -> int:
    listed = versions_service(settings).listed()
    if not listed:
        print("no published versions yet")
    for item in listed:
        v = item.info
        mark = "active" if item.active else ""
        print(f"{v.id}  {v.published_at:%Y-%m-%d %H:%M}Z  {v.published_by:<16} {mark:<6}  {v.note}")
    return 0


def cmd_diff(args: argparse.Namespace, settings: Settings) -> int:
    service = versions_service(settings)
    changes = diff(service.files(args.a), service.files(args.b))
    print("\n".join(str(c) for c in changes) if changes else "no differences")
    return 0


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    versions_service(settings).activate(args.version, args.by, args.note)
    print(f"{args.version} is active")
    return 0


def cmd_log(args: argparse.Namespace, settings: Settings) -> int:
    for e in versions_service(settings).audit(args.limit):
        when = ""
        if e.effective_at and e.effective_at != e.at:
            when = f" effective {e.effective_at:%Y-%m-%d %H:%M}Z"
        version = e.version_id or "-"
        print(f"{e.at:%Y-%m-%d %H:%M:%S}Z  {e.by:<16} {e.action:<9} {version}{when}  {e.note}")
    return 0


def register_cli(tables_commands: Any) -> None:
    """Add the version commands to `gateway tables` (an argparse subparsers object)."""
    publish = tables_commands.add_parser("publish", help="validate, store and activate a table set")
    publish.add_argument("path", nargs="?", help="tables directory (default: ROUTING_TABLES)")
    _who(publish)
    publish.add_argument(
        "--effective", help="when it takes effect (ISO 8601 with offset); default now"
    )
    publish.set_defaults(func=cmd_publish)
    listing = tables_commands.add_parser("versions", help="list published versions")
    listing.set_defaults(func=cmd_versions)
    compare = tables_commands.add_parser("diff", help="what changed between two versions")
    compare.add_argument("a")
    compare.add_argument("b")
    compare.set_defaults(func=cmd_diff)
    rollback = tables_commands.add_parser("rollback", help="make an earlier version active again")
    rollback.add_argument("version")
    _who(rollback)
    rollback.set_defaults(func=cmd_rollback)
    log = tables_commands.add_parser("log", help="the audit log: who changed what, when, why")
    log.add_argument("--limit", type=int, default=50)
    log.set_defaults(func=cmd_log)


def _who(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", required=True, help="your name, for the audit log")
    parser.add_argument("--note", required=True, help="why, for the audit log")
