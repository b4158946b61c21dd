"""Carrying the request id to where the work goes: RQ jobs, and the transfer activity log.

`TracedQueue` puts the current request id (gateway.tracing.REQUEST_ID) in each job's meta,
never in its arguments: arguments of a transfer record's job carry encrypted personal
fields, and meta is what the worker reads back to log it (gateway.worker). `ActivityLog`
is an `EventSink` that writes one INFO line per transfer step, then hands the events on.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import Queue
from rq.job import Job

from gateway.domain.events import Event, EventSink
from gateway.tracing import REQUEST_ID

META_REQUEST_ID = "request_id"
activity = logging.getLogger("gateway.activity")


class TracedQueue(Queue):
    """An RQ queue whose jobs remember the request that enqueued them (job.meta)."""

    def create_job(self, *args: Any, **kwargs: Any) -> Job:
        request_id = REQUEST_ID.get()
        if request_id:
            kwargs["meta"] = {**(kwargs.get("meta") or {}), META_REQUEST_ID: request_id}
        return super().create_job(*args, **kwargs)


class ActivityLog:
    """An `EventSink` that logs each transfer step at INFO, then passes it to `sink`.

    Event data is already free of phone numbers, summaries and coordinates (it is checked
    when an event is made), so the line carries it whole.
    """

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    def emit(self, *events: Event) -> None:
        for event in events:
            fields = {
                "request_id": REQUEST_ID.get(),
                "transfer_id": event.transfer_id,
                "step": event.kind.value,
            }
            activity.info(event.kind.value, extra={"fields": {**fields, **event.data}})
        self.sink.emit(*events)
