"""RQ jobs that write to the durable store. The worker imports them by name.

Each job takes one JSON string, enters the store itself (the engine comes from
DATABASE_URL and is kept per process), and lets every exception propagate: a database
outage fails the job and RQ retries it with back-off (see `gateway.queueing`).

The one exception is a malformed payload (`EventDataError`): retrying cannot fix it, so the
job logs why (redacted) and returns "rejected". It is not raised on purpose: a failed job
keeps its arguments in RQ's failed registry for its failure TTL, and a payload rejected for
looking like personal data is exactly what must not be kept.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.events import Event, EventDataError
from gateway.settings import Settings
from gateway.store.db import create_store_engine
from gateway.store.privacy import Cipher, TransferRecord, redact
from gateway.store.repository import purge_personal_fields, save_event, save_transfer
from gateway.store.schema import migrate

logger = logging.getLogger(__name__)

RECORDED = "recorded"
DUPLICATE = "duplicate"
REJECTED = "rejected"


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def store_engine(settings: Settings | None = None) -> Engine:
    """The engine for DATABASE_URL, created and migrated once per process.

    The schema is brought to the latest migration when the engine is first made, so
    `make run` needs no setup step; if that fails (database down) nothing is kept and the
    next job tries again.
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


def _reject(what: str, exc: EventDataError) -> str:
    logger.warning("%s rejected, not retried: %s", what, redact(str(exc)))
    return REJECTED


def record_event(payload: str) -> str:
    """Write one transfer event (an `Event.to_json()` string) to the store, exactly once.

    Returns:
        "recorded", "duplicate" (its key was already stored) or "rejected" (malformed).
    """
    try:
        event = Event.from_json(payload)
    except EventDataError as exc:
        return _reject("event payload", exc)
    with Session(store_engine()) as session, session.begin():
        new = save_event(session, event)
    logger.info("event %s %s: %s", event.kind.value, event.transfer_id, "new" if new else "dup")
    return RECORDED if new else DUPLICATE


def record_transfer(payload: str) -> str:
    """Write a protected transfer record (a `TransferRecord.to_json()` string). Idempotent.

    Returns:
        "recorded", or "rejected" (malformed).
    """
    try:
        record = TransferRecord.from_json(payload)
    except EventDataError as exc:
        return _reject("transfer payload", exc)
    settings = Settings.from_env()
    save_transfer(store_engine(settings), record, Cipher.from_settings(settings))
    logger.info("transfer record %s saved", record.transfer_id)
    return RECORDED


def purge_personal_data() -> int:
    """Delete personal fields older than RETENTION_DAYS; returns how many transfers."""
    settings = Settings.from_env()
    with Session(store_engine(settings)) as session, session.begin():
        purged = purge_personal_fields(session, settings.retention_days)
    logger.info("retention: personal fields deleted from %d transfers", purged)
    return purged
