"""Which routing tables a process or a command starts from.

A web process or the worker starts from the active published version; on an empty store it
imports ROUTING_TABLES as the first version, so a first deployment and `make run` work as
before. Files on disk are read only then: once a version exists, a bad file there never
reaches a starting process. Commands such as `gateway route` use the active version when the
store has one, and ROUTING_TABLES otherwise (a fresh clone has no store), and say which on
standard error, so that `--json` output stays clean.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gateway.settings import Settings
from gateway.tables.follow import TableFollower
from gateway.tables.service import TableVersions
from routing.counties import CountyLayer, load_layer
from routing.engine import Router, Snapshot
from routing.index import CountyIndex
from routing.model import RoutingTables
from routing.tables import load_tables
from routing.zips import preload as preload_zips

logger = logging.getLogger(__name__)


def start_router(settings: Settings, *, follow: bool = False) -> Router:
    """The router of a web process or worker: the active version, imported first if need be.

    When the store cannot be read, the process starts from ROUTING_TABLES rather than not at
    all, and says so in its log.

    Args:
        settings: DATABASE_URL, ROUTING_TABLES and the county layers.
        follow: also follow the active version live from now on (a TableFollower thread).

    Raises:
        TablesInvalid: the store has no version and ROUTING_TABLES is not valid.
    """
    layer = load_layer(settings.county_layer, settings.extra_county_layers)
    versions, tables = _starting_tables(settings, layer)
    router = _router(layer, tables)
    if follow:
        TableFollower(router, versions).start()
    return router


def _starting_tables(settings: Settings, layer: CountyLayer) -> tuple[TableVersions, RoutingTables]:
    from gateway.adapters.store.db import create_store_engine
    from gateway.adapters.store.engines import store_engine

    try:
        versions = TableVersions(store_engine(settings), layer)
        active = versions.ensure_active(settings.tables_dir)
        if active is not None:
            return versions, versions.tables(active)
        # Only versions scheduled for later exist: the files are all there is until then.
        logger.warning("routing tables: no version in effect yet; starting from ROUTING_TABLES")
    except SQLAlchemyError:
        # Callers must still reach a center: start from the files, and follow the store
        # once it answers again.
        logger.exception("routing tables: the store cannot be read; starting from ROUTING_TABLES")
        versions = TableVersions(create_store_engine(settings.database_url), layer)
    return versions, load_tables(settings.tables_dir, layer)


def command_router(settings: Settings) -> Router:
    """The router of a command: the active version if the store has one, else the files."""
    layer = load_layer(settings.county_layer, settings.extra_county_layers)
    return _router(layer, command_tables(settings, layer))


def command_tables(
    settings: Settings, layer: CountyLayer, stderr: TextIO | None = None
) -> RoutingTables:
    """The tables of a command: the active version if the store has one, else the files.

    Which one is said on `stderr` (standard error by default), never on standard output.
    """
    stderr = stderr or sys.stderr
    tables = _active_tables(settings, layer)
    if tables is None:
        tables = load_tables(settings.tables_dir, layer)
        print(
            f"routing tables: {settings.tables_dir} (ROUTING_TABLES; none published)", file=stderr
        )
    else:
        print(f"routing tables: published version {tables.version} (active)", file=stderr)
    return tables


def _active_tables(settings: Settings, layer: CountyLayer) -> RoutingTables | None:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return None  # a fresh clone: no store, and a command must not create one
    from gateway.adapters.store.db import create_store_engine

    engine = create_store_engine(settings.database_url)
    try:
        if not inspect(engine).has_table("table_events"):
            return None
        versions = TableVersions(engine, layer)
        active = versions.active_id()
        return versions.tables(active) if active else None
    except SQLAlchemyError as exc:
        print(f"routing tables: the store cannot be read ({type(exc).__name__})", file=sys.stderr)
        return None
    finally:
        engine.dispose()


def _router(layer: CountyLayer, tables: RoutingTables) -> Router:
    preload_zips()  # the ZIP data set loads on first use: pay that now, not mid-call
    return Router(Snapshot(layer, CountyIndex(layer), tables))
