"""Engines and sessions for the durable store: SQLite by default, PostgreSQL when configured.

One function turns a `DATABASE_URL` into an engine, so the web process, the worker, the CLI
and the tests all talk to the database the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.types import TypeDecorator

# psycopg 3 is the driver installed; a bare postgresql:// URL would ask for psycopg2.
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def engine_url(database_url: str) -> str:
    """The SQLAlchemy URL for a `DATABASE_URL`, naming the psycopg 3 driver for PostgreSQL."""
    for prefix in _POSTGRES_PREFIXES:
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def create_store_engine(database_url: str) -> Engine:
    """Create an engine for the store.

    Args:
        database_url: `sqlite:///path` (the parent folder is created) or `postgresql://...`.

    Returns:
        An engine. PostgreSQL connections are checked before use, so after a database restart
        the next job gets a fresh connection instead of failing on a dead one. Statement
        parameters are left out of error messages, which end up in logs and in RQ's
        failed-job registry.
    """
    url = make_url(engine_url(database_url))
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url.render_as_string(hide_password=False), url.database)
    return create_engine(
        url,
        pool_pre_ping=True,
        hide_parameters=True,
        # A refused or unreachable server must fail the job quickly so RQ schedules a retry,
        # instead of holding the worker for the operating system's TCP timeout.
        connect_args={"connect_timeout": 5},
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # The worker, the web process and the CLI may share one file: wait for a lock (30 s)
    # rather than failing at once.
    engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets reports read while the worker writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so the value is stored as naive
    UTC and given its zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store only accepts timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
