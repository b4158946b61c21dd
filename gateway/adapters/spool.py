"""A durable local spool for transfer events that Redis would not take.

`RQSink` used to log such events at ERROR level for a person to replay by hand; when Redis
was down or restarting, that was how 5 of a transfer's 8 events were lost (issue 11). The
`SpoolingSink` appends them instead to a file of its own process
(`<EVENT_SPOOL_DIR>/events-<pid>.jsonl`, one `Event.to_json()` a line, flushed and
fsynced before `emit` returns) and hands them to the queue again, oldest first and before
any newer event, as soon as Redis takes a push. Events hold no personal data (the domain
refuses it), so the file holds none either.

A Redis that restarts also loses events it had taken but the worker had not yet written:
all of them without persistence (or after a failover to a replica behind), the last second
or two with AOF `everysec` (docs/deployment.md). So the sink keeps what it pushed in the
last `JOURNAL_S` seconds in memory, and each push first reads the server's `run_id`: a new
one means the server restarted since the last push, and the journal is pushed again.

Exactly once: a replayed batch may reach the queue twice (the process dies after the push,
before the file is emptied); the store keeps one row per idempotency key
(`repository.save_events`), so it is written once. A file left by a process that died is
adopted by the next process that replays (renamed first, so only one adopts it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import redis
from prometheus_client import Counter
from rq import Queue

from gateway.adapters.queueing import BATCH_SIZE, EVENTS_ENQUEUED, push_events
from gateway.domain.events import Event

logger = logging.getLogger(__name__)

# How long pushed events are kept to be pushed again after Redis lost its data: far longer
# than the worker takes to write them (milliseconds when it runs; this also covers a worker
# stopped for a few minutes) and than AOF everysec's one-second loss window.
JOURNAL_S = 600.0
# How often a web process replays its spool on its own (besides at each event it emits).
REPLAY_EVERY_S = 10.0

EVENTS_SPOOLED = Counter(
    "gateway_events_spooled", "Transfer events kept in the local spool: Redis did not take them."
)
EVENTS_REPLAYED = Counter(
    "gateway_events_replayed", "Spooled transfer events handed to the queue once Redis was back."
)


class SpoolingSink:
    """An `EventSink` that hands events to RQ and spools to disk what Redis would not take.

    `emit` never raises (a webhook must answer whatever happens); when even the spool cannot
    be written (disk full), the event is logged in full, as before, for `gateway report replay`.

    Args:
        queue: from `queueing.event_queue`.
        directory: where the spool files live; created if missing.
    """

    def __init__(self, queue: Queue, directory: Path, batch_size: int = BATCH_SIZE) -> None:
        self.queue, self.batch_size = queue, batch_size
        self.directory = directory
        self.path = directory / f"events-{os.getpid()}.jsonl"
        self._lock = threading.Lock()
        self._adopted = False  # orphans are looked for once, then at each `replay()`
        self._journal: deque[tuple[float, Event]] = deque()
        self._run_id: object = None

    def emit(self, *events: Event) -> None:
        with self._lock:
            if self._replay_locked() and self._push(events):
                return
            self._spool(events)

    def replay(self) -> int:
        """Hand every spooled event to the queue if Redis takes them; how many were."""
        with self._lock:
            self._adopt_orphans()
            before = len(self._spooled())
            if not self._replay_locked():
                return 0
            self._push([])  # and what Redis lost, if it restarted empty since the last push
            return before

    def start_replaying(self, every_s: float = REPLAY_EVERY_S) -> threading.Thread:
        """Replay in a daemon thread every `every_s` seconds, so a process that emits
        nothing more after Redis is back still hands its spool over (one round trip each)."""

        def loop() -> None:
            while True:
                time.sleep(every_s)
                try:
                    self.replay()
                except Exception:
                    logger.exception("spool replay failed; trying again in %s s", every_s)

        thread = threading.Thread(target=loop, name="event-spool-replay", daemon=True)
        thread.start()
        return thread

    def _replay_locked(self) -> bool:
        """True when nothing is left in the spool (so newer events may go straight on)."""
        if not self._adopted:
            self._adopted = True
            self._adopt_orphans()
        pending = self._spooled()
        if not pending:
            return True
        if not self._push(pending):
            return False
        self.path.unlink(missing_ok=True)
        EVENTS_REPLAYED.inc(len(pending))
        logger.warning("replayed %d spooled events", len(pending))
        return True

    def _push(self, events: Sequence[Event]) -> bool:
        try:
            lost = self._data_lost()
            again = [event for _, event in self._journal] if lost else []
            if again:
                logger.warning("Redis lost its data: pushing %d recent events again", len(again))
            batch = [*again, *events]
            for start in range(0, len(batch), self.batch_size):
                push_events(self.queue, batch[start : start + self.batch_size], self.batch_size)
        except (redis.RedisError, OSError):
            return False
        self._remember(events)
        for event in events:
            EVENTS_ENQUEUED.labels(event.kind.value).inc()
        return True

    def _data_lost(self) -> bool:
        """Whether the server restarted since this sink's last push (its run id changed):
        from its AOF it may still have lost the last second or two of writes."""
        run_id = self.queue.connection.info("server").get("run_id")
        lost = self._run_id is not None and run_id != self._run_id
        self._run_id = run_id
        return lost

    def _remember(self, events: Sequence[Event]) -> None:
        now = time.monotonic()
        self._journal.extend((now, event) for event in events)
        while self._journal and self._journal[0][0] < now - JOURNAL_S:
            self._journal.popleft()

    def _spool(self, events: Sequence[Event]) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as spool:
                spool.writelines(event.to_json() + "\n" for event in events)
                spool.flush()
                os.fsync(spool.fileno())
        except OSError as exc:
            for event in events:
                logger.error("event not spooled (%s), replay it: %s", exc, event.to_json())
            return
        EVENTS_SPOOLED.inc(len(events))

    def _spooled(self) -> list[Event]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        # A line cut short by a crash mid-write is the one event that was never spooled.
        return [Event.from_json(line) for line in text.splitlines() if line.endswith("}")]

    def _adopt_orphans(self) -> None:
        """Take over the spool files of processes that are gone."""
        for orphan in self.directory.glob("events-*.jsonl"):
            if orphan == self.path or _alive(orphan):
                continue
            claimed = orphan.with_name(f"adopting-{os.getpid()}-{orphan.name}")
            with contextlib.suppress(OSError):
                orphan.rename(claimed)
                with self.path.open("a", encoding="utf-8") as spool:
                    spool.write(claimed.read_text(encoding="utf-8"))
                claimed.unlink()


def _alive(spool: Path) -> bool:
    """Whether the process that owns a spool file is still running."""
    try:
        pid = int(spool.stem.removeprefix("events-"))
    except ValueError:
        return True  # not ours to adopt
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
