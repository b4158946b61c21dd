"""Time for the simulator: a virtual clock that jumps, a real one that waits, and the loop.

The scheduler is the simulator's only source of time. On the virtual clock it jumps from
one event to the next, so a five-minute call replays in milliseconds; on the real clock it
sleeps until the next event or until another thread (the REST API server) schedules one.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Timer:
    """One scheduled callback; `cancel()` keeps it from running."""

    when: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    label: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        """Keep the callback from running (it stays in the queue and is skipped)."""
        self.cancelled = True


class Scheduler:
    """An event queue on a virtual or a real clock.

    Args:
        realtime: wait for wall-clock time between events instead of jumping.
        settle_s: on the virtual clock, real seconds to wait for an application that works
            after answering (REST requests sent once its webhook's response is out) before
            time jumps on; waited only after `touch()`, and again while it keeps calling.
    """

    def __init__(self, realtime: bool = False, settle_s: float = 0.0) -> None:
        self.realtime = realtime
        self.settle_s = settle_s
        self._touched = False
        self._queue: list[Timer] = []
        self._seq = itertools.count()
        self._now = 0.0
        self._started_at = time.monotonic()
        # Guards the queue only; REST threads schedule while the loop waits.
        self._cv = threading.Condition()

    def now(self) -> float:
        """Seconds since the simulation started."""
        if self.realtime:
            return time.monotonic() - self._started_at
        return self._now

    def call_at(self, when: float, action: Callable[[], None], label: str = "") -> Timer:
        """Run `action` at simulation time `when` (never earlier than now)."""
        with self._cv:
            timer = Timer(max(when, self.now()), next(self._seq), action, label)
            heapq.heappush(self._queue, timer)
            self._cv.notify_all()
        return timer

    def call_later(self, delay: float, action: Callable[[], None], label: str = "") -> Timer:
        """Run `action` after `delay` seconds of simulation time."""
        return self.call_at(self.now() + delay, action, label)

    def call_soon(self, action: Callable[[], None], label: str = "") -> Timer:
        """Run `action` at the current time, after everything already due now."""
        return self.call_at(self.now(), action, label)

    def touch(self) -> None:
        """The application answered or called: let it settle before time jumps on."""
        with self._cv:
            self._touched = True
            self._cv.notify_all()

    def pending(self) -> int:
        """How many live (not cancelled) timers are queued."""
        with self._cv:
            return sum(1 for timer in self._queue if not timer.cancelled)

    def next_due(self, until: float, idle_grace: float = 0.0) -> Timer | None:
        """Pop the next timer due no later than `until`, waiting for it on the real clock.

        Args:
            until: the end of the run, in simulation seconds.
            idle_grace: on the real clock, how long to wait for new work when the queue is
                empty (an application may create calls a moment after a webhook returns).

        Returns:
            The timer to run, or None when the run is over.
        """
        with self._cv:
            while True:
                self._drop_cancelled()
                if self._settling():
                    continue
                if not self._queue:
                    if not self.realtime or not self._cv.wait(timeout=idle_grace):
                        return None
                    continue
                head = self._queue[0]
                if head.when > until:
                    return None
                if self.realtime:
                    delay = head.when - self.now()
                    if delay > 0:
                        self._cv.wait(timeout=delay)
                        continue
                else:
                    self._now = max(self._now, head.when)
                return heapq.heappop(self._queue)

    def _settling(self) -> bool:
        """On the virtual clock, before time would move: wait `settle_s` if the application
        was heard from since the last wait. True when the queue should be looked at again.
        (Called with the condition held; a REST request's new timer ends the wait early.)"""
        if self.realtime or not self._touched or self.settle_s <= 0:
            return False
        if self._queue and self._queue[0].when <= self._now:
            return False  # more to do at this instant first
        self._touched = False
        self._cv.wait(timeout=self.settle_s)
        return True

    def _drop_cancelled(self) -> None:
        while self._queue and self._queue[0].cancelled:
            heapq.heappop(self._queue)
