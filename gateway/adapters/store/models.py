"""The store's tables: one row per transfer, one row per transfer event.

`transfer_events` is the append-only log, written exactly once per idempotency key.
`transfers` holds what the call flow recorded about the transfer (its personal fields
protected: see `gateway.adapters.store.privacy`) and the outcome derived from its events, refreshed
each time an event arrives, so reports read one row per transfer instead of replaying the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.adapters.store.db import UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits for the log.
_EVENT_ID = BigInteger().with_variant(Integer(), "sqlite")


# Constraint names are fixed, so the migrations can name them and PostgreSQL and SQLite agree.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the store's models."""

    metadata = MetaData(naming_convention=NAMING)


class Transfer(Base):
    """One transfer: identity, protected personal fields, and the derived outcome."""

    __tablename__ = "transfers"

    transfer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The first event's time (or created_at): what reports bucket by day and week.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    psap_id: Mapped[str | None] = mapped_column(String(64))
    first_center_id: Mapped[str | None] = mapped_column(String(64))
    connected_center_id: Mapped[str | None] = mapped_column(String(64))
    area_code_center_id: Mapped[str | None] = mapped_column(String(64))
    county_fips: Mapped[str | None] = mapped_column(String(5))
    method: Mapped[str | None] = mapped_column(String(32))
    risk: Mapped[str | None] = mapped_column(String(16))
    call_type: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    veteran: Mapped[bool | None] = mapped_column()
    # A drill or demo (played on the carrier simulator, or by a gateway set up for drills):
    # kept in the store, left out of reports unless an analyst asks for it.
    drill: Mapped[bool] = mapped_column(default=False, server_default=false())

    # Personal fields. The hash links repeat callers; the rest is deleted after retention.
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    caller_encrypted: Mapped[str | None] = mapped_column(Text)
    summary_encrypted: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column()
    longitude: Mapped[float | None] = mapped_column()
    personal_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Derived from the events by gateway.adapters.store.outcomes.derive_outcome.
    outcome: Mapped[str] = mapped_column(String(32), default="in_progress")
    outcome_reason: Mapped[str | None] = mapped_column(String(64))
    area_code_differs: Mapped[bool | None] = mapped_column()
    ambiguous: Mapped[bool | None] = mapped_column()
    rollovers: Mapped[int] = mapped_column(default=0)
    dial_attempts: Mapped[int] = mapped_column(default=0)
    escalated: Mapped[bool] = mapped_column(default=False)
    escalation_answered: Mapped[bool | None] = mapped_column()
    caller_hung_up_s: Mapped[float | None] = mapped_column()
    route_s: Mapped[float | None] = mapped_column()
    answer_s: Mapped[float | None] = mapped_column()
    accept_s: Mapped[float | None] = mapped_column()
    handoff_s: Mapped[float | None] = mapped_column()
    total_s: Mapped[float | None] = mapped_column()
    escalation_answer_s: Mapped[float | None] = mapped_column()
    event_count: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # Reports filter on a period and group by PSAP or center: each index starts with the
        # grouping column so a per-partner report over a period is an index range scan.
        Index("ix_transfers_started_at", "started_at"),
        Index("ix_transfers_psap_started", "psap_id", "started_at"),
        Index("ix_transfers_center_started", "first_center_id", "started_at"),
        Index("ix_transfers_connected_started", "connected_center_id", "started_at"),
        # Retention scans for rows that still hold personal fields.
        Index("ix_transfers_purge", "personal_purged_at", "started_at"),
    )


class TransferEvent(Base):
    """One event of one transfer, exactly once per idempotency key."""

    __tablename__ = "transfer_events"

    id: Mapped[int] = mapped_column(_EVENT_ID, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    transfer_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("transfers.transfer_id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_transfer_events_transfer_at", "transfer_id", "at"),
        # /metrics counts events by kind on every scrape: an index-only scan.
        Index("ix_transfer_events_kind", "kind"),
    )


# -- published routing tables (issue 12; see gateway.tables) ---------------------------------


class TableVersion(Base):
    """A published routing table set: immutable once written. `id` is its tables_version."""

    __tablename__ = "table_versions"

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)


class TableVersionFile(Base):
    """One file of a published table set, byte for byte as it was validated."""

    __tablename__ = "table_version_files"

    version_id: Mapped[str] = mapped_column(
        String(12), ForeignKey("table_versions.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(255), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class TableEvent(Base):
    """The audit log of the tables: who did what, when, why. Append-only.

    A row with `activates` makes its version the active one from `effective_at`: the active
    version is that of the latest such row already in effect.
    """

    __tablename__ = "table_events"

    id: Mapped[int] = mapped_column(_EVENT_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    version_id: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("table_versions.id"), nullable=True
    )
    note: Mapped[str] = mapped_column(Text)
    activates: Mapped[bool] = mapped_column(Boolean)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set on an action that may happen only once (the first import), else NULL, which a
    # unique constraint lets repeat: of several processes importing at once, one succeeds.
    once: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)

    __table_args__ = (Index("ix_table_events_activates_effective_at", "activates", "effective_at"),)


class TableDraft(Base):
    """The administrators' shared draft: a table set being edited, not yet published."""

    __tablename__ = "table_drafts"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    base_version: Mapped[str] = mapped_column(String(12))
    files: Mapped[dict[str, str]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
