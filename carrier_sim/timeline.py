"""What happened during a run: every leg, verb, webhook and status change, in order.

The timeline ends with each party's final state and the intervals in which parties could
hear each other, and offers the questions tests ask about a transfer ("was the caller ever
left without a human for more than N s?", "did the application hang up on the caller?").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Entry:
    """One thing that happened.

    Attributes:
        t: seconds since the run started.
        kind: call, verb, webhook, callback, rest, conference, dtmf, media, connect,
            disconnect, error or note.
        party: the party's name ("" for conference-wide events).
        call_sid: the leg concerned ("" for conference-wide events).
        text: a one-line description.
        data: details (webhook parameters, response status, error codes).
    """

    t: float
    kind: str
    party: str
    call_sid: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Interval:
    """Two legs that could hear each other from `start` to `end`."""

    a: str
    b: str
    a_sid: str
    b_sid: str
    start: float
    end: float | None = None

    def duration(self, run_end: float) -> float:
        """Seconds connected (to the end of the run if still connected)."""
        return (run_end if self.end is None else self.end) - self.start


@dataclass
class Leg:
    """A call leg's final state."""

    sid: str
    party: str
    from_: str
    to: str
    direction: str
    status: str
    human: bool
    created_at: float
    answered_at: float | None
    ended_at: float | None
    ended_by: str | None
    end_reason: str
    answered_by: str | None
    parent_sid: str | None


class Timeline:
    """The record of one run; built by the engine, read by people and tests."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.entries: list[Entry] = []
        self.intervals: list[Interval] = []
        self.legs: dict[str, Leg] = {}
        self.run_end = 0.0
        self._open: dict[frozenset[str], Interval] = {}

    # Recording (used by the engine) -------------------------------------------------

    def add(self, t: float, kind: str, party: str, call_sid: str, text: str, **data: Any) -> None:
        """Append an entry."""
        self.entries.append(Entry(round(t, 3), kind, party, call_sid, text, data))

    def connect(self, t: float, a: tuple[str, str], b: tuple[str, str]) -> None:
        """Open an interval between legs a and b, each given as (sid, party)."""
        key = frozenset({a[0], b[0]})
        if key not in self._open:
            self._open[key] = Interval(a[1], b[1], a[0], b[0], t)
            self.intervals.append(self._open[key])
            self.add(t, "connect", a[1], a[0], f"{a[1]} <-> {b[1]} connected")

    def disconnect(self, t: float, a_sid: str, b_sid: str) -> None:
        """Close the interval between two legs, if open."""
        interval = self._open.pop(frozenset({a_sid, b_sid}), None)
        if interval is not None:
            interval.end = t
            self.add(
                t,
                "disconnect",
                interval.a,
                interval.a_sid,
                f"{interval.a} <-> {interval.b} disconnected after {interval.duration(t):.1f} s",
            )

    def open_pairs(self) -> set[frozenset[str]]:
        """The pairs of legs connected right now."""
        return set(self._open)

    def finish(self, t: float, legs: list[Leg]) -> None:
        """Close the record at time `t` with each leg's final state."""
        self.run_end = t
        self.legs = {leg.sid: leg for leg in legs}

    # Questions tests ask --------------------------------------------------------------

    def party_legs(self, party: str) -> list[Leg]:
        """Every leg of a party, in creation order."""
        return sorted(
            (leg for leg in self.legs.values() if leg.party == party),
            key=lambda leg: leg.created_at,
        )

    def connections(self, party: str) -> list[Interval]:
        """Intervals in which `party` could hear someone."""
        return [i for i in self.intervals if party in (i.a, i.b)]

    def connected(self, a: str, b: str) -> bool:
        """True if parties a and b could hear each other at some point."""
        return any({i.a, i.b} == {a, b} for i in self.intervals)

    def gaps_without_human(
        self, party: str, since: float | None = None
    ) -> list[tuple[float, float]]:
        """Periods in which `party` was on an answered call but connected to no human.

        Args:
            party: the party's name.
            since: ignore time before this (e.g. the first menu of an inbound call).
        """
        gaps: list[tuple[float, float]] = []
        for leg in self.party_legs(party):
            if leg.answered_at is None:
                continue
            start = max(leg.answered_at, since if since is not None else leg.answered_at)
            end = leg.ended_at if leg.ended_at is not None else self.run_end
            covered = sorted(self._human_cover(leg.sid))
            gaps.extend(_uncovered(start, end, covered))
        return [gap for gap in gaps if gap[1] > gap[0]]

    def longest_without_human(self, party: str, since: float | None = None) -> float:
        """The longest period `party` spent answered but without a human to talk to."""
        return max(
            (end - start for start, end in self.gaps_without_human(party, since)), default=0.0
        )

    def disconnected_by_application(self, party: str) -> bool:
        """True if any leg of `party` was ended by the application (TwiML, REST, error)."""
        return any(leg.ended_by == "application" for leg in self.party_legs(party))

    def errors(self) -> list[Entry]:
        """Every error entry (Twilio error codes in `data['code']`)."""
        return [entry for entry in self.entries if entry.kind == "error"]

    def of_kind(self, kind: str, party: str | None = None) -> list[Entry]:
        """Entries of one kind, optionally for one party."""
        return [e for e in self.entries if e.kind == kind and party in (None, e.party)]

    def _human_cover(self, sid: str) -> list[tuple[float, float]]:
        cover = []
        for interval in self.intervals:
            if sid not in (interval.a_sid, interval.b_sid):
                continue
            other = interval.b_sid if interval.a_sid == sid else interval.a_sid
            leg = self.legs.get(other)
            if leg is not None and leg.human:
                end = self.run_end if interval.end is None else interval.end
                cover.append((interval.start, end))
        return cover

    # Output ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view: entries, legs, connections and each party's final state."""
        return {
            "name": self.name,
            "run_end": self.run_end,
            "entries": [asdict(entry) for entry in self.entries],
            "legs": [asdict(leg) for leg in self.legs.values()],
            "connections": [
                {**asdict(i), "duration": round(i.duration(self.run_end), 3)}
                for i in self.intervals
            ],
            "parties": self.final_state(),
        }

    def to_json(self) -> str:
        """The timeline as JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def final_state(self) -> dict[str, Any]:
        """Per party: its legs' outcomes and whom it talked to, when and for how long."""
        parties: dict[str, Any] = {}
        for leg in sorted(self.legs.values(), key=lambda leg: leg.created_at):
            state = parties.setdefault(leg.party, {"legs": [], "talked_to": []})
            state["legs"].append(
                {
                    "sid": leg.sid,
                    "status": leg.status,
                    "answered_at": leg.answered_at,
                    "ended_at": leg.ended_at,
                    "ended_by": leg.ended_by,
                    "reason": leg.end_reason,
                    "answered_by": leg.answered_by,
                }
            )
        for i in self.intervals:
            for me, other in ((i.a, i.b), (i.b, i.a)):
                parties[me]["talked_to"].append(
                    {
                        "party": other,
                        "from": i.start,
                        "to": i.end,
                        "seconds": round(i.duration(self.run_end), 3),
                    }
                )
        return parties

    def render(self) -> str:
        """The timeline for a person to read."""
        lines = [f"Timeline: {self.name}"] if self.name else []
        for e in self.entries:
            sid = f"..{e.call_sid[-4:]}" if e.call_sid else "      "
            lines.append(f"{e.t:9.3f}  {e.party[:14]:<14} {sid}  {e.kind:<10} {e.text}")
        lines.append("")
        lines.append(f"Final state at {self.run_end:.3f} s:")
        for party, state in self.final_state().items():
            for leg in state["legs"]:
                lines.append(
                    f"  {party}: {leg['status']}, ended by {leg['ended_by'] or '-'}"
                    f"{' (' + leg['reason'] + ')' if leg['reason'] else ''}"
                )
            for talk in state["talked_to"]:
                until = "end of run" if talk["to"] is None else f"{talk['to']:.1f}"
                lines.append(
                    f"    with {talk['party']} from {talk['from']:.1f} to {until} "
                    f"({talk['seconds']:.1f} s)"
                )
        return "\n".join(lines)


def _uncovered(
    start: float, end: float, covered: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Sub-intervals of [start, end] not covered by the sorted `covered` intervals."""
    gaps = []
    cursor = start
    for c_start, c_end in covered:
        if c_end <= cursor:
            continue
        if c_start > cursor:
            gaps.append((cursor, min(c_start, end)))
        cursor = max(cursor, c_end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append((cursor, end))
    return gaps
