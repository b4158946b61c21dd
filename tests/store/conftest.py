"""Every store test runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.store.databases import empty_store, fresh_postgres_database, sqlite_url


@pytest.fixture(scope="session")
def postgres_store_url(database_url: str) -> Iterator[str]:
    """A migrated database of this session's own on the test PostgreSQL server."""
    with fresh_postgres_database(database_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated store."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    url: str = request.getfixturevalue("postgres_store_url")
    return url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = empty_store(store_url)
    yield engine
    engine.dispose()
