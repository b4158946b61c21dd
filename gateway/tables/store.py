"""The repository of published table versions and their audit log (SQLAlchemy sessions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.adapters.store.models import TableEvent, TableVersion, TableVersionFile

FIRST_IMPORT = "first-import"
"""The `once` key of the first version's import: of several processes starting together on
an empty store, exactly one inserts it (the others' inserts collide)."""


@dataclass(frozen=True)
class VersionInfo:
    """A published version as listed: everything but its files."""

    id: str
    content_hash: str
    published_at: datetime
    published_by: str
    note: str
    summary: Mapping[str, Any]


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    id: int
    at: datetime
    by: str
    action: str
    version_id: str | None
    note: str
    effective_at: datetime | None


def _info(row: TableVersion) -> VersionInfo:
    return VersionInfo(
        row.id, row.content_hash, row.published_at, row.published_by, row.note, dict(row.summary)
    )


def versions(session: Session) -> list[VersionInfo]:
    """Every published version, newest first."""
    rows = session.scalars(select(TableVersion).order_by(TableVersion.published_at.desc()))
    return [_info(row) for row in rows]


def version(session: Session, version_id: str) -> VersionInfo | None:
    row = session.get(TableVersion, version_id)
    return _info(row) if row else None


def files(session: Session, version_id: str) -> dict[str, bytes]:
    """The files of a version, byte for byte as validated (empty for an unknown id)."""
    rows = session.scalars(
        select(TableVersionFile).where(TableVersionFile.version_id == version_id)
    )
    return {row.path: row.content for row in rows}


def active_id(session: Session, now: datetime) -> str | None:
    """The version in effect at `now`: that of the latest activation already effective."""
    return session.scalar(
        select(TableEvent.version_id)
        .where(TableEvent.activates, TableEvent.effective_at <= now)
        .order_by(TableEvent.effective_at.desc(), TableEvent.id.desc())
        .limit(1)
    )


def add_version(session: Session, info: VersionInfo, content: Mapping[str, bytes]) -> bool:
    """Store a version unless one with the same content exists; True when it is new."""
    if session.get(TableVersion, info.id) is not None:
        return False
    session.add(
        TableVersion(
            id=info.id,
            content_hash=info.content_hash,
            published_at=info.published_at,
            published_by=info.published_by,
            note=info.note,
            summary=dict(info.summary),
        )
    )
    session.flush()  # the version row first: its files refer to it
    session.add_all(
        TableVersionFile(version_id=info.id, path=p, content=c) for p, c in content.items()
    )
    return True


def record(
    session: Session, entry: AuditEntry, *, activates: bool, once: str | None = None
) -> None:
    """Append to the audit log; with `activates`, the version is active from `effective_at`.

    Raises:
        IntegrityError: `once` is given and already recorded.
    """
    session.add(
        TableEvent(
            once=once,
            at=entry.at,
            by=entry.by,
            action=entry.action,
            version_id=entry.version_id,
            note=entry.note,
            activates=activates,
            effective_at=entry.effective_at if activates else None,
        )
    )
    session.flush()


def audit_log(session: Session, limit: int = 200) -> list[AuditEntry]:
    """The latest entries of the audit log, newest first."""
    rows = session.scalars(select(TableEvent).order_by(TableEvent.id.desc()).limit(limit))
    return [
        AuditEntry(r.id, r.at, r.by, r.action, r.version_id, r.note, r.effective_at) for r in rows
    ]


def pending(session: Session, now: datetime) -> Sequence[AuditEntry]:
    """Activations scheduled for later than `now`, soonest first."""
    rows = session.scalars(
        select(TableEvent)
        .where(TableEvent.activates, TableEvent.effective_at > now)
        .order_by(TableEvent.effective_at)
    )
    return [
        AuditEntry(r.id, r.at, r.by, r.action, r.version_id, r.note, r.effective_at) for r in rows
    ]
