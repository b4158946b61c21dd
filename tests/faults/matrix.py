"""The fault matrix (issue 11): one call played on the carrier simulator per cell, with the
live state's redis-server killed, restarted empty or frozen at one step of the call.

Each cell plays the same call on the virtual clock: the Wyandotte PSAP registers a
transfer and conferences the caller in; the routed center (kc-kansas) answers at 20 s,
its counselor presses 1 at 26 s, `*` at 60 s and `9` at 62 s (bringing 911 back, whose
line answers and joins), and hangs up at 120 s; the caller hangs up at 170 s. The fault
starts at the step's time and lasts 20 s (kill: refused connections, then the server
comes back from its AOF; freeze: SIGSTOP, then SIGCONT); a restart is at once and empty.
Real time passes only where the fault needs it (a frozen server's timeouts).

The gateway's events go through the real queue: a `SpoolingSink` pushes them to the
server's pending list, and a stand-in for the worker's drain job takes them from there
every 2 s of the call while the server answers (the real worker could not reach a dead
or frozen server either). What it took is what the store would hold: one row per
idempotency key, and the outcome `derive_outcome` makes of them.

Each cell is checked for the four promises of the issue (`violations`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from carrier_sim.timeline import Timeline
from gateway.adapters.connections import QUEUE, redis_client
from gateway.adapters.queueing import event_queue, pending_key
from gateway.adapters.spool import SpoolingSink
from gateway.adapters.store.outcomes import CONNECTED, Outcome, Result, derive_outcome
from gateway.adapters.twiml import STAY_WITH_911, WAIT_MESSAGE
from gateway.domain.events import Event, EventKind, MemorySink
from routing.engine import Router
from tests.app.harness import KC_KANSAS, KS_STATEWIDE, NATIONAL, PSAP_ESCALATION, Harness, line
from tests.faults.faulty_redis import FaultyRedis

DEADLINE_S = 90
GRACE_S = 15  # the caller is never without a human more than this past the deadline
FAULT_S = 20.0  # how long a kill or a freeze lasts, in the call's time
DRAIN_EVERY_S = 2
RUN_END_S = 200

# Where each step is in the call (virtual seconds from the caller's arrival); None: between
# the registration and the caller's arrival.
STEPS: dict[str, float | None] = {
    "registration": None,
    "waiting": 2.0,
    "ringing": 12.0,
    "whisper": 23.0,
    "accept": 25.5,
    "connected": 40.0,
    "escalation": 63.0,
}
FAULTS = ("kill", "restart", "freeze")
CENTERS = ("kc-kansas", "ks-statewide", "national")

COUNSELOR = [
    {"at": 6, "press": "1"},
    {"at": 40, "press": "*"},
    {"at": 42, "press": "9"},
    {"at": 100, "hangup": True},
]
LINES = [
    line(KC_KANSAS, "kc-kansas", answer=20, actions=COUNSELOR),
    line(KS_STATEWIDE, "ks-statewide", answer=5, actions=[{"at": 3, "press": "1"}]),
    line(NATIONAL, "national", answer=5, actions=[{"at": 3, "press": "1"}]),
    line(PSAP_ESCALATION, "psap-escalation", answer=3, actions=[{"at": 4, "press": "1"}]),
]


# The same call, but the counselor hangs up at 40 s without ever pressing `*`.
HANGS_UP = [line(KC_KANSAS, "kc-kansas", answer=20, actions=[{"at": 6, "press": "1"},
                                                              {"at": 40, "hangup": True}]),
            *LINES[1:]]  # fmt: skip


# The same call, but the first center's counselor declines (2), or its line does not answer:
# after a restart empty nothing rolls over (the dial plan was in the lost state), and the
# caller must still hear in time that 988 was not reached.
DECLINES = [line(KC_KANSAS, "kc-kansas", answer=20, actions=[{"at": 6, "press": "2"}]),
            *LINES[1:]]  # fmt: skip
NO_ANSWER = [line(KC_KANSAS, "kc-kansas", outcome="no-answer"), *LINES[1:]]
# Cells beyond fault x step: (label, the step whose time the fault starts at, the lines),
# played for the restart only.
VARIANTS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "ringing, then declined": ("ringing", DECLINES),
    "whisper, then declined": ("whisper", DECLINES),
    "ringing, no answer": ("ringing", NO_ANSWER),
}
VARIANT_FAULTS = ("restart",)


class RecordingSink(MemorySink):
    """What the gateway emitted (the truth to compare the store with), handed on to the
    real queue through the spool."""

    def __init__(self, spooling: SpoolingSink) -> None:
        super().__init__()
        self.spooling = spooling

    def emit(self, *events: Event) -> None:
        super().emit(*events)
        self.spooling.emit(*events)


@dataclass
class Cell:
    """One fault at one step, and what came of it."""

    fault: str
    step: str
    violations: list[str] = field(default_factory=list)
    outcome: str = ""
    emitted: int = 0
    written: int = 0

    @property
    def passed(self) -> bool:
        return not self.violations


class Worker:
    """Takes the pending events off the server as the drain job would, while it answers."""

    def __init__(self, server: FaultyRedis, client: redis.Redis) -> None:
        self.server, self.client = server, client
        self.taken: list[str] = []

    def drain(self) -> None:
        if not self.server.healthy:
            return
        key = pending_key(QUEUE_NAME)
        try:
            pipe = self.client.pipeline()
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            raw, _ = pipe.execute()
        except redis.RedisError:
            return
        self.taken.extend(item.decode() for item in raw)


QUEUE_NAME = "transfer-events-faults"


def run_cell(
    fault: str, step: str, router: Router, workdir: Path, lines: list[dict[str, Any]] = LINES
) -> Cell:
    """Play the call (`LINES`, or `HANGS_UP`) with `fault` at `step` (or a `VARIANTS`
    label, which brings its own lines); return the cell with its violations."""
    if step in VARIANTS:
        lines = VARIANTS[step][1]
    server = FaultyRedis(workdir / "redis")
    server.start()
    try:
        return _play(fault, step, router, server, workdir / "spool", lines)
    finally:
        server.stop()
        shutil.rmtree(workdir / "spool", ignore_errors=True)


def _play(
    fault: str,
    step: str,
    router: Router,
    server: FaultyRedis,
    spool: Path,
    lines: list[dict[str, Any]],
) -> Cell:
    clients = [redis_client(server.url, QUEUE), redis_client(server.url)]
    try:
        return _played(fault, step, router, server, spool, clients, lines)
    finally:
        for client in clients:
            client.close()


def _played(
    fault: str,
    step: str,
    router: Router,
    server: FaultyRedis,
    spool: Path,
    clients: list[redis.Redis],
    lines: list[dict[str, Any]],
) -> Cell:
    spooling = SpoolingSink(event_queue(clients[0], QUEUE_NAME), spool)
    sink = RecordingSink(spooling)
    harness = Harness(router, clients[1], deadline_s=DEADLINE_S, sink=sink)
    worker = Worker(server, clients[1])
    start, end = _fault(fault, server)
    registered = harness.register()
    at = STEPS[VARIANTS[step][0] if step in VARIANTS else step]
    if at is None:
        start()
        harness.at(FAULT_S, end)
    else:
        harness.at(at, start)
        harness.at(at + FAULT_S, end)
    for t in range(DRAIN_EVERY_S, RUN_END_S, DRAIN_EVERY_S):
        harness.at(t, worker.drain)
    timeline = harness.play(
        lines,
        [{"at": 170, "hangup": True}],
        sip_headers={"X-Transfer-Id": registered["transfer_id"]},
    )
    end()  # whatever the fault, the server answers again before the final checks
    spooling.replay()  # what a process does as soon as Redis takes a push again
    worker.drain()
    return _judge(Cell(fault, step), timeline, sink.events, worker.taken)


def _fault(fault: str, server: FaultyRedis) -> tuple[Callable[[], None], Callable[[], None]]:
    """The fault's start and its recovery."""
    if fault == "kill":
        return server.kill, lambda: server.start() if server.process is None else None
    if fault == "restart":
        return server.restart_empty, lambda: None
    if fault == "none":  # the baseline: the same call with nothing wrong
        return lambda: None, lambda: None
    return server.freeze, server.thaw


def _judge(cell: Cell, timeline: Timeline, emitted: list[Event], taken: list[str]) -> Cell:
    written = {event.key: event for event in map(Event.from_json, taken)}
    truth = {event.key for event in emitted}
    cell.emitted, cell.written = len(truth), len(written)
    outcome = derive_outcome(written.values())
    cell.outcome = outcome.result.value + (f" ({outcome.reason})" if outcome.reason else "")
    checks = (_caller_kept, _human_in_time, _one_center_at_a_time, _counselor_not_turned_away)
    for check in checks:
        cell.violations.extend(check(timeline))
    cell.violations.extend(_true_outcome(outcome, timeline, list(written.values())))
    if set(written) != truth:
        lost, extra = len(truth - set(written)), len(set(written) - truth)
        cell.violations.append(f"{lost} of {len(truth)} events not written, {extra} unknown")
    return cell


def _caller_kept(timeline: Timeline) -> list[str]:
    ended = [leg for leg in timeline.party_legs("caller") if leg.ended_by not in (None, "party")]
    errors = timeline.errors()
    return (["the gateway ended the caller's leg"] if ended else []) + (
        [f"carrier error: {errors[0].text}"] if errors else []
    )


def _human_in_time(timeline: Timeline) -> list[str]:
    """No "connecting" past the deadline and its grace: by then a counselor, or 911 told
    that it keeps the caller."""
    limit = DEADLINE_S + GRACE_S
    heard = [e for e in timeline.of_kind("media", "caller") if e.text.startswith("waits")]
    late = [e for e in heard if e.t > limit and WAIT_MESSAGE in e.text]
    told = [e for e in timeline.of_kind("media", "caller") if STAY_WITH_911 in e.text]
    problems = [f"caller heard 'connecting' at {late[0].t:.0f} s"] if late else []
    talks = [c.start for c in timeline.connections("caller") if c.b in CENTERS]
    for gap_start, gap_end in timeline.gaps_without_human("caller", since=0.0):
        if talks and gap_start >= min(talks):
            continue  # after a counselor talked: who leaves is theirs (checked below)
        if gap_end > limit and not any(gap_start <= e.t <= limit for e in told):
            problems.append(f"caller without a counselor from {gap_start:.0f} s, 911 not told")
    return problems


def _talked(timeline: Timeline) -> list[str]:
    return [c.b for c in timeline.connections("caller") if c.b in CENTERS]


def _one_center_at_a_time(timeline: Timeline) -> list[str]:
    """No center is rung while the caller is talking to a counselor."""
    talks = [c for c in timeline.connections("caller") if c.b in CENTERS]
    problems = []
    for center in CENTERS:
        for leg in timeline.party_legs(center):
            if any(_during(leg.created_at, talk, timeline) for talk in talks if talk.b != center):
                problems.append(
                    f"{center} rung at {leg.created_at:.0f} s during a counselor's talk"
                )
    return problems


def _during(t: float, talk: Any, timeline: Timeline) -> bool:
    end = talk.end if talk.end is not None else timeline.run_end
    return bool(talk.start <= t < end)


def _counselor_not_turned_away(timeline: Timeline) -> list[str]:
    sent_away = ("no longer waiting", "The call has ended", "could not be completed")
    goodbyes = [e for e in timeline.of_kind("media") if any(s in e.text for s in sent_away)]
    caller_up = [leg for leg in timeline.party_legs("caller") if leg.ended_at is not None]
    gone_at = min((leg.ended_at or 0.0 for leg in caller_up), default=float("inf"))
    return [f"{e.party} turned away at {e.t:.0f} s" for e in goodbyes if e.t < gone_at]


def _true_outcome(outcome: Outcome, timeline: Timeline, written: list[Event]) -> list[str]:
    talked = _talked(timeline)
    problems = []
    if outcome.result in CONNECTED and outcome.connected_center_id not in talked:
        problems.append(f"false outcome {outcome.result.value}: caller never talked to it")
    first = outcome.first_center_id
    if outcome.result == Result.CONNECTED_AFTER_ROLLOVER and talked[:1] == [first]:
        problems.append("false outcome connected_after_rollover: the first center took it")
    if outcome.result not in CONNECTED | {Result.IN_PROGRESS, Result.UNKNOWN} and talked:
        problems.append(f"false outcome {outcome.result.value}: caller talked to {talked[0]}")
    escalated = any(c.b == "psap-escalation" for c in timeline.connections("caller"))
    if escalated and outcome.result != Result.UNKNOWN and not outcome.escalation_answered:
        problems.append("false record: 911 joined the caller, the escalation says unanswered")
    if outcome.result == Result.IN_PROGRESS:
        problems.append("outcome left in_progress (no final event, no `unknown` reason)")
    for event in written:
        center = event.data.get("center_id")
        if event.kind == EventKind.WHISPER_DECLINED and center in talked:
            problems.append(f"false record: {center} declined, yet its counselor talked")
    return problems


# -- the table in docs/fault-matrix.md ----------------------------------------------------

COMMAND = ".venv/bin/python scripts/fault_matrix.py"
DOC = Path(__file__).resolve().parents[2] / "docs" / "fault-matrix.md"
TABLE_HEADER = (
    "| fault | step | result | outcome the store derives | events written / emitted "
    "| what failed |",
    "|---|---|---|---|---|---|",
)


def row(cell: Cell) -> str:
    """One line of the table: pass, or open with what failed."""
    result = "pass" if cell.passed else "**open**"
    failed = "; ".join(cell.violations) or ""
    events = f"{cell.written} / {cell.emitted}"
    return f"| {cell.fault} | {cell.step} | {result} | {cell.outcome} | {events} | {failed} |"


def table_rows(text: str) -> dict[tuple[str, str], str]:
    """The table's lines by (fault, step)."""
    rows = {}
    for line_ in text.splitlines():
        parts = [p.strip() for p in line_.strip("|").split("|")]
        if len(parts) == 6 and (parts[0] in FAULTS or parts[0] == "none"):
            rows[(parts[0], parts[1])] = line_
    return rows
