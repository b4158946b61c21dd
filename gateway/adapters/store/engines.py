"""One migrated store engine per database URL and process, shared by whoever needs it.

The worker's jobs, the table versions (web processes and commands) and the admin API all
read the same store: each process keeps one engine per URL, migrated when first made, so
`make run` and a first deployment need no setup step.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from gateway.adapters.store.db import create_store_engine
from gateway.adapters.store.schema import migrate
from gateway.settings import Settings

_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def store_engine(settings: Settings | None = None) -> Engine:
    """The engine for DATABASE_URL, created and migrated once per process.

    If migrating fails (database down) nothing is kept and the next call tries again.
    """
    url = (settings or Settings.from_env()).database_url
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = create_store_engine(url)
            try:
                migrate(engine)
            except Exception:
                engine.dispose()
                raise
            _ENGINES[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every cached engine's connections (tests, and a worker shutting down)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
