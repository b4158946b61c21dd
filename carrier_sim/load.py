"""Load mode: many concurrent calls on the real clock, and what they measured.

`Simulator.run_many(scenario, count, stagger_s)` plays `count` copies of a scenario's
inbound call in one run, against one application, sharing the scenario's lines (a center's
number takes many calls at once, as in real life). Callers are named `caller-001`,
`caller-002`, ...; the legs of one call are those that met the caller in a conference.

On the real clock against an HTTP application, webhooks are sent by a pool of threads, so
the application sees them concurrently, as it would from Twilio. The run also measures the
simulator itself (`Overhead`): how late its loop ran each event, and the CPU time its
process used, so a benchmark can show the load generator was not the bottleneck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from carrier_sim.timeline import Entry, Timeline

DEFAULT_WORKERS = 64
# A query value this long in a webhook URL is taken for the application's own id of a call.
TOKEN_LENGTH = 8


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of `values`; 0.0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Overhead:
    """The simulator's own cost during a run.

    Attributes:
        wall_s: wall-clock seconds of the run.
        cpu_s: CPU seconds the simulator's process used (loop, REST API server and webhook
            threads; an application served from the same process is counted too).
        loop_cpu_s: CPU seconds of the loop thread alone.
        lags_s: for each event run, how long after its scheduled time it ran.
        send_waits_s: for each webhook sent from the thread pool (load mode), how long it
            waited for a free thread before it was sent (not part of its response time).
        sender_cpu_s: CPU seconds of the child process that sent the webhooks (load mode
            over HTTP), not counted in cpu_s.
    """

    wall_s: float = 0.0
    cpu_s: float = 0.0
    loop_cpu_s: float = 0.0
    lags_s: list[float] = field(default_factory=list)
    send_waits_s: list[float] = field(default_factory=list)
    sender_cpu_s: float = 0.0

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second (1.0 is one core fully busy)."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0

    def lag_ms(self, q: float) -> float:
        """A percentile of the loop's lag, in milliseconds."""
        return percentile(self.lags_s, q) * 1000

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{len(self.lags_s)} events in {self.wall_s:.1f} s; loop lag p50 "
            f"{self.lag_ms(50):.1f} ms, p99 {self.lag_ms(99):.1f} ms, "
            f"max {self.lag_ms(100):.1f} ms; "
            f"CPU {self.cpu_s:.1f} s ({self.cpu_share:.0%} of one core), loop thread "
            f"{self.loop_cpu_s:.1f} s; webhooks waited for a sending thread p99 "
            f"{percentile(self.send_waits_s, 99) * 1000:.1f} ms"
        )


@dataclass
class LoadRun:
    """The result of `Simulator.run_many`: one timeline holding every call, and overhead.

    Attributes:
        timeline: the whole run.
        callers: the inbound callers' party names, in the order they called.
        overhead: the simulator's own cost.
    """

    timeline: Timeline
    callers: list[str]
    overhead: Overhead
    _url_tokens: dict[str, set[str]] | None = field(default=None, repr=False)

    def call_sids(self, caller: str) -> set[str]:
        """The legs of one call: the caller's, every leg that joined its conferences or that
        its <Dial> placed, and every leg whose webhook URLs carry a query value (8 or more
        characters, not all digits: e.g. the application's transfer id, not a time many
        calls share) that the call's URLs carry too."""
        sids = self._met_sids(caller)
        tokens = self._tokens()
        mine = set().union(*(tokens.get(sid, set()) for sid in sids))
        return sids | {sid for sid, values in tokens.items() if values & mine}

    def _tokens(self) -> dict[str, set[str]]:
        if self._url_tokens is None:
            self._url_tokens = {}
            for e in self.timeline.entries:
                if e.kind in ("webhook", "callback") and e.call_sid and "url" in e.data:
                    query = urlsplit(str(e.data["url"])).query
                    values = {v for _, v in parse_qsl(query) if _token(v)}
                    self._url_tokens.setdefault(e.call_sid, set()).update(values)
        return self._url_tokens

    def _met_sids(self, caller: str) -> set[str]:
        entries = self.timeline.entries
        sids = {e.call_sid for e in entries if e.party == caller and e.call_sid}
        rooms = {
            str(e.data["conference"])
            for e in entries
            if e.kind == "conference" and e.call_sid in sids and "conference" in e.data
        }
        sids |= {
            e.call_sid
            for e in entries
            if e.kind == "conference" and e.data.get("conference") in rooms and e.call_sid
        }
        # Legs the caller's own <Dial> placed.
        sids |= {sid for sid, leg in self.timeline.legs.items() if leg.parent_sid in sids}
        return sids

    def per_call(self) -> dict[str, list[Entry]]:
        """Each caller's own entries (its legs'), in time order."""
        owner: dict[str, str] = {}
        for caller in self.callers:
            for sid in self.call_sids(caller):
                owner.setdefault(sid, caller)
        result: dict[str, list[Entry]] = {caller: [] for caller in self.callers}
        for e in self.timeline.entries:
            if e.call_sid in owner:
                result[owner[e.call_sid]].append(e)
        return result

    def webhook_seconds(self) -> list[float]:
        """Response time of every webhook and status callback the application answered."""
        return [
            float(e.data.get("elapsed", 0.0))
            for e in self.timeline.entries
            if e.kind in ("webhook", "callback")
        ]

    def webhook_errors(self) -> list[Entry]:
        """Requests that failed or were not answered 2xx, and every error entry."""
        return [
            e
            for e in self.timeline.entries
            if e.kind == "error"
            or (e.kind in ("webhook", "callback") and not 200 <= int(e.data.get("status", 0)) < 300)
        ]

    def connected(self, party: str) -> list[str]:
        """The callers that were connected to `party` at some point."""
        return [caller for caller in self.callers if self.timeline.connected(caller, party)]

    def ring_delays(self, parties: set[str]) -> list[float]:
        """Per call: from the start of the caller's webhook that led to it (the caller's last
        webhook started before it, not counting documents only played to the leg, like its
        waitUrl) to the first REST request ringing one of `parties`."""
        delays: list[float] = []
        for caller, entries in self.per_call().items():
            ring = _first_rest(entries, parties)
            if ring is None:
                continue
            starts = [
                float(e.data["started"])
                for e in entries
                if e.kind == "webhook"
                and e.party == caller
                and not e.data.get("media")
                and float(e.data["started"]) <= ring
            ]
            if starts:
                delays.append(ring - max(starts))
        return delays

    def key_delays(self, keyed_by: set[str], parties: set[str]) -> list[float]:
        """Per call: from the last key pressed by one of `keyed_by` to the first REST request
        ringing one of `parties` (e.g. a counselor's escalation key to the PSAP's line)."""
        delays: list[float] = []
        for entries in self.per_call().values():
            ring = _first_rest(entries, parties)
            if ring is None:
                continue
            keys = [
                float(e.data["at"])
                for e in entries
                if e.kind == "dtmf" and e.party in keyed_by and float(e.data["at"]) <= ring
            ]
            if keys:
                delays.append(ring - max(keys))
        return delays


def report(run: LoadRun) -> str:
    """A few lines for people: calls, webhook response times, errors, overhead."""
    seconds = run.webhook_seconds()
    errors = run.webhook_errors()
    p50, p99, top = (percentile(seconds, q) * 1000 for q in (50, 99, 100))
    lines = [
        f"{len(run.callers)} calls, {len(seconds)} webhooks and status callbacks: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {top:.1f} ms; {len(errors)} errors",
    ]
    lines += [f"  error at {e.t:.3f} s ({e.party}): {e.text}" for e in errors[:10]]
    lines.append(f"simulator: {run.overhead.summary()}")
    return "\n".join(lines)


def _token(value: str) -> bool:
    return len(value) >= TOKEN_LENGTH and not value.isdigit()


def _first_rest(entries: list[Entry], parties: set[str]) -> float | None:
    times = [
        float(e.data["at"])
        for e in entries
        if e.kind == "rest" and e.party in parties and "at" in e.data
    ]
    return min(times) if times else None
