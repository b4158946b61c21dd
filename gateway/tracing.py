"""Structured logs: one JSON object per line, each carrying the request id it belongs to.

A web request gets an id (gateway.web.request_log) held in `REQUEST_ID`, a context
variable, for as long as the request runs; jobs the request enqueues carry it in their
meta (gateway.adapters.traced), and the worker sets it again while it runs them
(gateway.worker). Every log line written meanwhile says which request it belongs to.

Privacy: log lines carry ids, kinds, statuses and timings, never a phone number, a
summary or a coordinate. An exception is logged by type and stack frames, without its
message, because a message may quote the value that failed to parse.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)
# The loggers whose lines are ours: the app, and the transfer activity.
GATEWAY_LOGGER = "gateway"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, request id, and
    the fields given as `extra={"fields": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # The request id is read as the line is written (in the request's own context).
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        # Lines that name their request in `fields` keep it when formatted later.
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["stack"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(line, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send the gateway's log lines, INFO and above, to stderr as JSON (once per process).

    Called by the process entry points (gunicorn's hooks, the worker), never by the app
    factory: tests and embedding programs keep their own logging.
    """
    logger = logging.getLogger(GATEWAY_LOGGER)
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # one line per record, whatever the root logger does
