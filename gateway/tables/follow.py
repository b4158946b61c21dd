"""Every process follows the active table version live, off the request path.

A daemon thread per process asks the store which version is active every POLL_INTERVAL_S
(one indexed query). When it changed, the thread loads and validates that version and builds
its routing snapshot, then swaps it into the Router in one reference assignment: a request
in flight finishes on the snapshot it started with, the next one routes with the new
version, and no webhook ever waits for a load. A version that cannot be loaded (the store
is down, a county layer changed under it) leaves the one in use in place and is tried again
after RETRY_AFTER_S.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gateway.tables.service import TableVersions
from routing.engine import Router
from routing.model import RoutingTables

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 2.0
"""How often the active version id is read: a publish reaches every process within about
this long plus the time to build the new snapshot (the issue asks for 5 s)."""
RETRY_AFTER_S = 60.0
"""How long a version that failed to load is left before it is tried again."""
KEEP_VERSIONS = 3
"""Versions recently routed with that are kept loaded, for an instant rollback."""


class TableFollower:
    """Keeps one Router on the active version of one store.

    Args:
        router: the router to swap snapshots into.
        versions: the store's versions.
        interval_s: seconds between two reads of the active id.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        router: Router,
        versions: TableVersions,
        interval_s: float = POLL_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.router, self.versions = router, versions
        self.interval_s, self.clock = interval_s, clock
        self._failed: dict[str, float] = {}  # version id -> when its load failed
        self._loaded: dict[str, RoutingTables] = {}  # versions recently left, oldest first
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Switch to the active version if it is not the one in use; True when switched."""
        try:
            active = self.versions.active_id()
        except Exception:  # the store is down: keep routing with what we have
            logger.warning("routing tables: the store cannot be read; keeping the version in use")
            return False
        if active is None or active == self.router.tables.version or self._resting(active):
            return False
        try:
            tables = self._loaded.get(active) or self.versions.tables(active)
        except Exception:
            self._failed[active] = self.clock()
            logger.exception(
                "routing tables: version %s cannot be loaded; keeping %s",
                active,
                self.router.tables.version,
            )
            return False
        self._keep(self.router.tables)
        self.router.use(tables)
        logger.info("routing tables: now routing with version %s", active)
        return True

    def _keep(self, tables: RoutingTables) -> None:
        # Versions never change, so the one being left can come back without a reload: a
        # rollback, the most urgent change there is, is then a swap.
        self._loaded[tables.version] = tables
        while len(self._loaded) > KEEP_VERSIONS:
            self._loaded.pop(next(iter(self._loaded)))

    def _resting(self, version_id: str) -> bool:
        failed_at = self._failed.get(version_id)
        return failed_at is not None and self.clock() - failed_at < RETRY_AFTER_S

    def start(self) -> None:
        """Follow in a daemon thread (it ends with the process)."""
        self._thread = threading.Thread(target=self._run, name="table-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()
