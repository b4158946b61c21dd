"""Fixtures for the fault matrix: the sample routing tables."""

from __future__ import annotations

import pytest

from gateway.settings import DEFAULT_TABLES_DIR
from routing.engine import Router


@pytest.fixture(scope="session")
def router() -> Router:
    return Router.from_files(DEFAULT_TABLES_DIR)
