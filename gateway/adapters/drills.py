"""Marking drills: every event of a drill carries `drill: true` into the outcome store.

A gateway played by the carrier simulator (`gateway simulate`, `gateway demo`), or one set up
for drills with GATEWAY_DRILL=true, wraps its event sink in `DrillMarker`. The store derives
the transfer's `drill` flag from its events, and reports leave drills out unless an analyst
asks for them (docs/reports.md).
"""

from __future__ import annotations

from dataclasses import replace

from gateway.domain.events import Event, EventSink


class DrillMarker:
    """An `EventSink` that marks each event as a drill's, then passes it to `sink`."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    def emit(self, *events: Event) -> None:
        self.sink.emit(*(replace(e, data={**e.data, "drill": True}) for e in events))
