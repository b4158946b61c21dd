"""Fixtures shared by the whole suite.

The county layer and its index take about a second to build, so they are built once per
test session; both are read-only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from playwright.sync_api import Browser

from routing.counties import CountyLayer, load_layer
from routing.index import CountyIndex
from tests.browser import chromium, screenshots_folder
from tests.servers import postgres_server, redis_server

# Property tests check behaviour, not speed (bench/ measures that): with Hypothesis's default
# 200 ms deadline, one slow example on a busy CI machine fails a correct test as "flaky".
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture(scope="session")
def county_layer() -> CountyLayer:
    return load_layer()


@pytest.fixture(scope="session")
def county_index(county_layer: CountyLayer) -> CountyIndex:
    return CountyIndex(county_layer)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server's URL (see tests/servers.py for which one)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server's URL (see tests/servers.py for which one)."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright (tests/browser.py), once per test module."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a browser test saves its screenshots (SCREENSHOTS_DIR=docs/img for the docs)."""
    return screenshots_folder(tmp_path)
