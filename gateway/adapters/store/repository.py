"""Idempotent writes to the store, and retention.

Every write locks the transfer's row first (creating it if need be), so two workers writing
events of the same transfer take turns: the second one sees the first one's event when it
re-derives the outcome. A repeated event (same idempotency key) changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Engine, Executable, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.adapters.store.models import Transfer, TransferEvent
from gateway.adapters.store.outcomes import Outcome, derive_outcome
from gateway.adapters.store.privacy import Cipher, TransferRecord, decrypt_location
from gateway.domain.events import Event, EventKind

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
_T = TypeVar("_T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _insert(session: Session) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"the store supports PostgreSQL and SQLite, not {name}")


def _rowcount(session: Session, statement: Executable) -> int:
    """How many rows an INSERT or UPDATE touched (ON CONFLICT DO NOTHING touches none)."""
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount)


def _locked_transfer(session: Session, transfer_id: str) -> Transfer:
    """The transfer's row, created if missing, locked until the transaction ends."""
    create = (
        _insert(session)(Transfer)
        .values(transfer_id=transfer_id)
        .on_conflict_do_nothing(index_elements=["transfer_id"])
    )
    session.execute(create)
    # SQLite ignores FOR UPDATE; its writes are serialized by the database lock anyway.
    query = (
        select(Transfer)
        .where(Transfer.transfer_id == transfer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).one()


def save_event(session: Session, event: Event, clock: Clock = _utcnow) -> bool:
    """Write one event once, and refresh its transfer's outcome.

    Run it inside a transaction (`with Session(engine) as s, s.begin(): ...`): the event and
    the outcome are committed together or not at all.

    Args:
        session: a session in a transaction.
        event: the event.
        clock: gives `recorded_at`.

    Returns:
        True if the event was new; False if an event with its key was already stored.
    """
    return bool(save_events(session, [event], clock))


# Transfer ids per IN (...) list when reading events back.
_IDS_PER_SELECT = 1000


def save_events(session: Session, events: Sequence[Event], clock: Clock = _utcnow) -> set[str]:
    """Write a batch of events, each once, and refresh each touched transfer's outcome once.

    What the worker's drain job and bulk loads use: a handful of statements per batch
    instead of four per event. The batch's transfers are created if missing and locked in
    transfer-id order (so two writers with overlapping batches cannot deadlock), the events
    go in with multi-row INSERT ... ON CONFLICT (key) DO NOTHING RETURNING, then every
    transfer that received a new event has its outcome re-derived from all its stored
    events (one SELECT for the whole batch). Run it inside a transaction.

    Args:
        session: a session in a transaction.
        events: the events, in any order, repeats allowed.
        clock: gives `recorded_at` and `updated_at`.

    Returns:
        The keys of the events that were new (a repeated or already stored key is not).
    """
    if not events:
        return set()
    transfer_ids = sorted({event.transfer_id for event in events})
    insert = _insert(session)
    # Core statements with a list of rows: SQLAlchemy's "insertmanyvalues" sends them as
    # multi-row INSERTs (1,000 rows each) from one cached compilation.
    connection = session.connection()
    create = insert(Transfer.__table__).on_conflict_do_nothing(index_elements=["transfer_id"])
    connection.execute(create, [{"transfer_id": tid} for tid in transfer_ids])
    # SQLite ignores FOR UPDATE; its writes are serialized by the database lock anyway.
    locked = session.scalars(
        select(Transfer)
        .where(Transfer.transfer_id.in_(transfer_ids))
        .order_by(Transfer.transfer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    now = clock()
    unique = list({event.key: event for event in events}.values())
    rows = [
        {
            "key": event.key,
            "transfer_id": event.transfer_id,
            "kind": event.kind.value,
            "at": event.at,
            "data": dict(event.data),
            "recorded_at": now,
        }
        for event in unique
    ]
    table = TransferEvent.__table__
    add = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["key"])
        # RETURNING says which rows went in; rowcount is not reliable across drivers.
        .returning(table.c.key)
    )
    new_keys: set[str] = set(connection.execute(add, rows).scalars())
    touched = {event.transfer_id for event in unique if event.key in new_keys}
    if touched:
        stored = _events_by_transfer(session, sorted(touched))
        for transfer in locked:
            if transfer.transfer_id in touched:
                _apply_outcome(transfer, derive_outcome(stored[transfer.transfer_id]), now)
        session.flush()
    return new_keys


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _events_by_transfer(session: Session, transfer_ids: Sequence[str]) -> dict[str, list[Event]]:
    """The stored events of these transfers, as `Event` values grouped by transfer."""
    grouped: dict[str, list[Event]] = {tid: [] for tid in transfer_ids}
    for chunk in _chunks(transfer_ids, _IDS_PER_SELECT):
        rows = session.execute(
            select(
                TransferEvent.transfer_id,
                TransferEvent.kind,
                TransferEvent.key,
                TransferEvent.at,
                TransferEvent.data,
            ).where(TransferEvent.transfer_id.in_(chunk))
        )
        for transfer_id, kind, key, at, data in rows:
            grouped[transfer_id].append(Event(transfer_id, EventKind(kind), key, at, data))
    return grouped


def transfer_events(session: Session, transfer_id: str) -> list[Event]:
    """The stored events of one transfer, as `Event` values (in storage order)."""
    return _events_by_transfer(session, [transfer_id])[transfer_id]


# Outcome fields copied onto the row as they are; descriptors are only filled, never blanked.
_DESCRIPTORS = (
    "psap_id",
    "risk",
    "call_type",
    "language",
    "veteran",
    "first_center_id",
    "county_fips",
    "method",
)
_DERIVED = tuple(
    f.name for f in fields(Outcome) if f.name not in (*_DESCRIPTORS, "result", "reason")
)


def refresh_outcome(session: Session, transfer: Transfer, clock: Clock = _utcnow) -> Outcome:
    """Re-derive a (locked) transfer's outcome from all its stored events."""
    outcome = derive_outcome(transfer_events(session, transfer.transfer_id))
    _apply_outcome(transfer, outcome, clock())
    session.flush()
    return outcome


def _apply_outcome(transfer: Transfer, outcome: Outcome, now: datetime) -> None:
    transfer.outcome = outcome.result.value
    transfer.outcome_reason = outcome.reason
    for name in _DERIVED:
        setattr(transfer, name, getattr(outcome, name))
    for name in _DESCRIPTORS:
        value = getattr(outcome, name)
        if value is not None:
            setattr(transfer, name, value)
    transfer.started_at = _earliest(outcome.started_at, transfer.created_at)
    transfer.updated_at = now


def _earliest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def save_transfer(
    target: Session | Engine,
    record: TransferRecord,
    cipher: Cipher | None = None,
    clock: Clock = _utcnow,
) -> None:
    """Write (or update) what the call flow recorded about a transfer. Idempotent.

    Args:
        target: a session in a transaction, or an engine (a transaction is opened).
        record: the protected record (see `privacy.protect_transfer`).
        cipher: decrypts `location_encrypted` to store the rounded coordinates; without
            it the location is not stored.
        clock: gives `updated_at`.
    """
    if isinstance(target, Engine):
        with Session(target) as session, session.begin():
            save_transfer(session, record, cipher, clock)
        return
    transfer = _locked_transfer(target, record.transfer_id)
    _apply_record(transfer, record, cipher)
    transfer.started_at = _earliest(transfer.started_at, record.created_at)
    transfer.updated_at = clock()
    target.flush()


def _apply_record(transfer: Transfer, record: TransferRecord, cipher: Cipher | None) -> None:
    transfer.created_at = record.created_at
    if transfer.personal_purged_at is None:
        # A replay of an old record must not bring back purged personal fields.
        transfer.caller_hash = record.caller_hash or transfer.caller_hash
        transfer.caller_encrypted = record.caller_encrypted or transfer.caller_encrypted
        transfer.summary_encrypted = record.summary_encrypted or transfer.summary_encrypted
        if cipher and record.location_encrypted:
            _apply_location(transfer, cipher, record.location_encrypted)
    # Events are the better source for these; the record only fills what they left out.
    pairs = (
        ("psap_id", record.psap_id),
        ("first_center_id", record.center_id),
        ("county_fips", record.county_fips),
        ("method", record.method),
        ("risk", record.risk),
        ("call_type", record.call_type),
        ("language", record.language),
    )
    for name, value in pairs:
        if value is not None and getattr(transfer, name) is None:
            setattr(transfer, name, value)


def _apply_location(transfer: Transfer, cipher: Cipher, token: str) -> None:
    try:
        transfer.latitude, transfer.longitude = decrypt_location(cipher, token)
    except ValueError:
        # Encrypted under another key (rotated?): retrying cannot help; keep the rest.
        logger.warning("transfer %s: location not stored, wrong key", transfer.transfer_id)


def purge_personal_fields(session: Session, retention_days: int, clock: Clock = _utcnow) -> int:
    """Delete personal fields of transfers that started more than `retention_days` ago.

    Clears the encrypted number and summary and the rounded coordinates; keeps the caller
    hash (it identifies nobody without CALLER_HASH_KEY) and every non-personal field, so
    reports over old periods still work.

    Returns:
        How many transfers were purged.
    """
    now = clock()
    cutoff = now - timedelta(days=retention_days)
    purge = (
        update(Transfer)
        .where(Transfer.personal_purged_at.is_(None))
        .where(Transfer.started_at < cutoff)
        .values(
            caller_encrypted=None,
            summary_encrypted=None,
            latitude=None,
            longitude=None,
            personal_purged_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(session, purge)
