"""Publishing, activating, comparing and loading routing table versions.

A publish validates the whole set first (`routing.tables`), so a bad file never becomes a
version; a version is stored byte for byte as it was validated, and its id is the
`tables_version` routing decisions carry. Activating an earlier version (a rollback) makes
decisions carry that id again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from gateway.tables import store
from gateway.tables.store import AuditEntry, VersionInfo
from routing.counties import CountyLayer
from routing.model import RoutingTables
from routing.tables import content_digest, load_table_files, read_table_files

logger = logging.getLogger(__name__)

# How long a starting process keeps looking for the first version another process is
# importing: a loaded machine can take seconds to commit it, and giving up too soon would
# start this process from the files without a version id the others share.
IMPORT_PATIENCE_S = 30.0
"""Tries at the first import when several processes race on an empty SQLite store."""


class VersionError(ValueError):
    """A request about versions that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class Listed:
    """A version with whether it is the active one."""

    info: VersionInfo
    active: bool


def utc_now() -> datetime:
    return datetime.now(UTC)


class TableVersions:
    """The table versions in one store, validated against one county layer.

    Args:
        engine: the store (migrated).
        layer: the county layer tables are checked against.
        clock: the current time (tests pass their own).
    """

    def __init__(
        self, engine: Engine, layer: CountyLayer, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.engine, self.layer, self.clock = engine, layer, clock
        self._built: dict[str, RoutingTables] = {}  # the last version built here

    # -- reading ---------------------------------------------------------------------------

    def active_id(self) -> str | None:
        with Session(self.engine) as session:
            return store.active_id(session, self.clock())

    def listed(self) -> list[Listed]:
        with Session(self.engine) as session:
            active = store.active_id(session, self.clock())
            return [Listed(v, v.id == active) for v in store.versions(session)]

    def info(self, version_id: str) -> VersionInfo:
        with Session(self.engine) as session:
            found = store.version(session, version_id)
        if found is None:
            raise VersionError(f"no published version '{version_id}'")
        return found

    def files(self, version_id: str) -> dict[str, bytes]:
        self.info(version_id)
        with Session(self.engine) as session:
            return store.files(session, version_id)

    def tables(self, version_id: str) -> RoutingTables:
        """The routing tables of a version, validated again as they are built.

        A version built by this object (published or imported here) is not built twice:
        versions never change.
        """
        built = self._built.get(version_id)
        if built is not None:
            return built
        return load_table_files(
            self.files(version_id), self.layer, f"published version {version_id}"
        )

    def _remember(self, tables: RoutingTables) -> None:
        self._built = {
            tables.version: replace(tables, source=f"published version {tables.version}")
        }

    def audit(self, limit: int = 200) -> list[AuditEntry]:
        with Session(self.engine) as session:
            return store.audit_log(session, limit)

    # -- changing --------------------------------------------------------------------------

    def publish(
        self,
        files: Mapping[str, bytes],
        by: str,
        note: str,
        effective_at: datetime | None = None,
        action: str = "publish",
    ) -> str:
        """Validate a table set, store it as a version and make it active.

        Args:
            files: the set, as `routing.tables.read_table_files` gives it.
            by: who publishes (goes into the audit log).
            note: why.
            effective_at: when it becomes active; now when None.
            action: the audit log's word for it ("publish", "import").

        Returns:
            The version id. Publishing a set identical to an earlier version makes that
            version active again, under the same id.

        Raises:
            TablesInvalid: the set has problems; nothing is stored.
            VersionError: no name or note, or an effective time in the past.
        """
        by, note = _required(by, "by"), _required(note, "note")
        now = self.clock()
        if effective_at is not None and effective_at < now:
            raise VersionError("the effective time is in the past; leave it out for now")
        tables = load_table_files(files, self.layer, "publish")
        info = VersionInfo(tables.version, content_digest(files), now, by, note, _summary(tables))
        with Session(self.engine) as session, session.begin():
            new = store.add_version(session, info, files)
            entry = AuditEntry(
                0, now, by, action if new else "republish", info.id, note, effective_at or now
            )
            store.record(session, entry, activates=True)
        return info.id

    def publish_folder(
        self, path: Path, by: str, note: str, effective_at: datetime | None = None
    ) -> str:
        """`publish` the table set in a folder."""
        return self.publish(read_table_files(path), by, note, effective_at)

    def activate(self, version_id: str, by: str, note: str, action: str = "rollback") -> None:
        """Make a published version the active one now (a rollback, or a re-activation).

        Raises:
            VersionError: an unknown version, or no name or note.
            TablesInvalid: the version no longer validates against this county layer.
        """
        by, note = _required(by, "by"), _required(note, "note")
        self.tables(version_id)  # a layer changed since the publish may refuse it: say so now
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            store.record(
                session, AuditEntry(0, now, by, action, version_id, note, now), activates=True
            )

    def ensure_active(self, tables_dir: Path) -> str | None:
        """The active version; on a store without one, `tables_dir` imported as the first.

        Several processes starting together on an empty store make exactly one first
        version: the import's audit entry is unique, so only one insert succeeds.

        Returns:
            The active version id, or None when versions exist but none is in effect yet
            (only scheduled ones).

        Raises:
            TablesInvalid: the store is empty and the files in `tables_dir` are not valid.
        """
        deadline = time.monotonic() + IMPORT_PATIENCE_S
        attempt = 0
        while True:
            active = self.active_id()
            if active is not None:
                return active
            if self.listed():
                # Versions exist: another process may have imported the first between the
                # two reads, so ask again (None then means only scheduled versions exist).
                return self.active_id()
            try:
                self._import(tables_dir)
            except (IntegrityError, OperationalError):
                # Another process imported first (or holds SQLite's write lock): look again.
                if time.monotonic() > deadline:
                    raise
                attempt += 1
                time.sleep(min(0.05 * attempt, 0.5))

    def _import(self, tables_dir: Path) -> None:
        files = read_table_files(tables_dir)
        tables = load_table_files(files, self.layer, str(tables_dir))
        now = self.clock()
        note = f"first version, imported from ROUTING_TABLES ({tables_dir})"
        info = VersionInfo(
            tables.version, content_digest(files), now, "gateway", note, _summary(tables)
        )
        with Session(self.engine) as session, session.begin():
            store.add_version(session, info, files)
            entry = AuditEntry(0, now, "gateway", "import", info.id, note, now)
            store.record(session, entry, activates=True, once=store.FIRST_IMPORT)
        self._remember(tables)
        logger.info(
            "routing tables: imported %s as the first published version %s", tables_dir, info.id
        )


def parse_effective(text: str | None, name: str) -> datetime | None:
    """An effective time given as ISO 8601 text with its offset; None when not given.

    Raises:
        VersionError: not such a time (`name` says which field or option it came from).
    """
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise VersionError(
            f"{name}: '{text}' is not a time such as 2026-12-01T08:00-06:00"
        ) from None
    if when.tzinfo is None:
        raise VersionError(f"{name}: give the offset too, such as 2026-12-01T08:00-06:00")
    return when


def _required(value: str, name: str) -> str:
    value = (value or "").strip()
    if not value:
        raise VersionError(f"{name}: required (who is changing the tables, and why)")
    if len(value) > (100 if name == "by" else 2000):
        raise VersionError(f"{name}: too long")
    return value


def _summary(tables: RoutingTables) -> dict[str, int]:
    return {
        "centers": len(tables.centers),
        "counties": len(tables.county_centers),
        "overlays": len(tables.overlays),
        "psaps": len(tables.psaps),
        "partnerships": len(tables.partnerships),
    }
