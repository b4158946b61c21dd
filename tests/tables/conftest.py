"""Table-version tests run on SQLite and on the real PostgreSQL server, like the store's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gateway.adapters.store.db import create_store_engine
from gateway.adapters.store.schema import migrate
from gateway.tables.service import TableVersions
from routing.counties import CountyLayer
from tests.routing.test_tables import tables  # noqa: F401  (a private copy of the sample)
from tests.store.conftest import engine, postgres_store_url  # noqa: F401  (on store_url below)
from tests.store.databases import sqlite_url
from tests.tables.admin_client import client  # noqa: F401  (the /admin pages' tests)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a migrated store without any table version."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        engine = create_store_engine(url)
        migrate(engine)
    else:
        url = str(request.getfixturevalue("postgres_store_url"))
        engine = create_store_engine(url)
        with engine.begin() as connection:
            connection.execute(
                text("TRUNCATE table_events, table_version_files, table_versions, table_drafts")
            )
    engine.dispose()
    return url


@pytest.fixture
def versions(engine: Engine, county_layer: CountyLayer) -> TableVersions:  # noqa: F811
    return TableVersions(engine, county_layer)
