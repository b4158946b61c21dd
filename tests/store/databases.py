"""Store databases for tests: a fresh PostgreSQL database per session, SQLite per test."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from gateway.adapters.store.db import create_store_engine
from gateway.adapters.store.repository import save_event
from gateway.adapters.store.schema import migrate
from gateway.domain.events import Event


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """Create a database of our own on the test server, migrate it, drop it at the end."""
    name = f"gateway_test_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_store_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'store.sqlite3'}"


def empty_store(url: str) -> Engine:
    """An engine on a migrated store with no rows (SQLite: migrated now; PostgreSQL: emptied)."""
    engine = create_store_engine(url)
    if engine.dialect.name == "sqlite":
        migrate(engine)
    else:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE transfer_events, transfers"))
    return engine


def save_events(engine: Engine, events: list[Event]) -> None:
    """Write `events` into the store in one transaction, as the worker would."""
    with Session(engine) as session, session.begin():
        for event in events:
            save_event(session, event)
