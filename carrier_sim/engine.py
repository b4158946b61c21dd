"""The carrier: call legs, their TwiML programs, conferences, and the parties' scripts.

`Engine` holds one run's state and clock; each part of the carrier's work is a component
it owns, in a module of its own:

    dispatch.Dispatch   webhooks and status callbacks to the application
    legs.Legs           call legs: create, dial, answer, end (the scenario's parties)
    programs.Programs   running TwiML: each call's program, its wake-ups and interruptions
    verbs.Verbs         the TwiML verbs, <Dial><Number> included
    joining.Joining     <Dial><Conference>: admission to a room and the stay there
    rooms.Rooms         conference rooms, their participants and events
    media.Media         what waiting participants hear (waitUrl) and announcements

Concurrency model. Everything runs on the scheduler's loop, one timer at a time, with
`Engine.lock` held. Each answered call runs its TwiML as a generator that yields a `Wait`
(for time, a key press or a signal) and is resumed with a `Wake`. REST handlers (called in
process or from the API server's threads) take the same lock and only create records and
schedule timers, so they never re-enter a running program. The lock is released while a
webhook is in flight, because the application under test calls the REST API while it
handles a webhook; that is the only moment another thread can change the engine's state.

Reactions between calls (a leg ends, so the other side's <Dial> finishes) are scheduled
with `call_soon` rather than run in place: a generator cannot be resumed from inside its
own step, and ordering through the queue keeps a replay deterministic.

Concurrent webhooks (load mode). With an `executor`, webhooks do not block the loop: a
program that needs a document parks on an "http:" channel while a pool thread sends the
request, and the answer comes back through the queue. Status callbacks and other requests
whose answer nothing waits for are sent the same way and recorded when they return. Keys
and signals that reach a program while it waits for its document are held until the
document arrives (on the loop-blocking path they would have queued behind the request).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from carrier_sim.clock import Scheduler, Timer
from carrier_sim.control import Target
from carrier_sim.dispatch import Dispatch
from carrier_sim.joining import Joining
from carrier_sim.legs import Legs
from carrier_sim.media import Media
from carrier_sim.model import Call, Conference, Participant
from carrier_sim.programs import Programs
from carrier_sim.rooms import Rooms
from carrier_sim.scenario import Scenario
from carrier_sim.timeline import Leg, Timeline
from carrier_sim.verbs import Verbs
from carrier_sim.webhooks import WebhookClient

__all__ = ["Engine", "EngineConfig", "Target"]


@dataclass
class EngineConfig:
    """What an engine needs to know about its world."""

    account_sid: str
    app_base_url: str
    scenario: Scenario
    epoch: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))


class Engine:
    """Plays the carrier's part for one run.

    Args:
        config: account, application URL and scenario.
        scheduler: the clock and event queue.
        webhooks: the signed-webhook sender.
        executor: in load mode, the pool webhooks are sent on.
    """

    def __init__(
        self,
        config: EngineConfig,
        scheduler: Scheduler,
        webhooks: WebhookClient,
        executor: Executor | None = None,
    ) -> None:
        self.config = config
        self.executor = executor
        # Keys and signals for a program that waits for its document (load mode).
        self.held: dict[str, list[Callable[[], None]]] = {}
        self.in_flight = 0  # requests on the executor whose answer is not yet queued
        self.send_waits: list[float] = []  # how long each request waited for a pool thread
        self.flight_lock = threading.Lock()
        self.scheduler = scheduler
        self.webhooks = webhooks
        self.timeline = Timeline(config.scenario.name)
        self.lock = threading.Lock()
        self.calls: dict[str, Call] = {}
        self.conferences: dict[str, Conference] = {}
        self.pending: dict[str, Participant] = {}  # API participants not yet answered
        self.roles: dict[str, str] = {}  # call sid -> inbound | api | dial | participant
        self.timers: dict[str, list[Timer]] = {}
        self.dial_counts: dict[str, int] = {}
        self.whisper: dict[str, Target] = {}
        self.wait_timers: dict[str, Timer] = {}
        self.deleted: set[str] = set()  # call records deleted through the REST API
        self.random = random.Random(config.scenario.callbacks.seed)
        self.http = Dispatch(self)
        self.legs = Legs(self)
        self.programs = Programs(self)
        self.verbs = Verbs(self)
        self.joining = Joining(self)
        self.rooms = Rooms(self)
        self.media = Media(self)

    def now(self) -> float:
        """Seconds since the run started."""
        return self.scheduler.now()

    def date(self, t: float | None) -> str | None:
        """RFC 2822 date for simulation time `t`, as Twilio's JSON and webhooks use."""
        if t is None:
            return None
        return format_datetime(self.config.epoch + timedelta(seconds=t))

    def log(self, call: Call | None, kind: str, text: str, **data: Any) -> None:
        """Add a timeline entry for `call` (or a conference-wide one)."""
        party = call.party if call else ""
        self.timeline.add(self.now(), kind, party, call.sid if call else "", text, **data)

    def soon(self, action: Callable[[], None], label: str = "") -> None:
        """Run `action` after everything already due now."""
        self.scheduler.call_soon(action, label)

    def later(self, call: Call, delay: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay` unless `call` has ended by then."""

        def guarded() -> None:
            if not call.ended:
                action()

        self.timers.setdefault(call.sid, []).append(self.scheduler.call_later(delay, guarded))

    @contextmanager
    def unlocked(self) -> Iterator[None]:
        """Release the engine lock while the application handles a webhook."""
        self.lock.release()
        try:
            yield
        finally:
            self.lock.acquire()

    def finish(self) -> Timeline:
        """Close the timeline with every leg's final state."""
        legs = [self._leg(call) for call in self.calls.values()]
        for call in self.calls.values():
            if not call.ended:
                self.log(call, "note", f"still {call.status} at the end of the run")
        self.timeline.finish(self.now(), legs)
        return self.timeline

    def _leg(self, call: Call) -> Leg:
        return Leg(
            call.sid,
            call.party,
            call.from_,
            call.to,
            call.direction,
            call.status,
            call.human,
            call.created_at,
            call.answered_at,
            call.ended_at,
            call.ended_by,
            call.end_reason,
            call.answered_by,
            call.parent_sid,
        )

    def recompute(self) -> None:
        """Bring the timeline's connection intervals up to date with the calls' state."""
        pairs: set[frozenset[str]] = set()
        for call in self.calls.values():
            peer = self.calls.get(call.bridged_with or "")
            if peer is not None and call.live and peer.live:
                pairs.add(frozenset({call.sid, peer.sid}))
        for conference in self.conferences.values():
            if not conference.started:
                continue
            members = [
                sid
                for sid, p in conference.participants.items()
                if not p.hold and self.calls[sid].live
            ]
            pairs.update(frozenset({a, b}) for i, a in enumerate(members) for b in members[i + 1 :])
        now = self.now()
        current = self.timeline.open_pairs()
        for gone in current - pairs:
            a, b = sorted(gone)
            self.timeline.disconnect(now, a, b)
        order = {sid: index for index, sid in enumerate(self.calls)}
        # Older leg first, so "caller <-> center" reads the same on every run.
        fresh = [sorted(pair, key=order.__getitem__) for pair in pairs - current]
        for a, b in sorted(fresh, key=lambda pair: (order[pair[0]], order[pair[1]])):
            self.timeline.connect(now, (a, self.calls[a].party), (b, self.calls[b].party))
