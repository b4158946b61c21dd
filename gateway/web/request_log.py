"""One JSON line per request, and a request id for everything the request sets off.

The id is the caller's `X-Request-Id` when it is a plain token (a proxy's or a load
balancer's, so lines can be matched across them), else a new random one; it is sent back
in `X-Request-Id`. The line names the route's pattern (`/api/v1/transfers/<transfer_id>`),
not the path, and the Twilio CallSid of a webhook; never the form, the query or the body,
which carry phone numbers and locations.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from gateway.tracing import REQUEST_ID

access = logging.getLogger("gateway.access")
_TOKEN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")


def init_app(app: Flask) -> None:
    """Log every request of `app` (its own hooks, so blueprints need nothing)."""
    app.before_request(_start)
    app.after_request(_log)
    app.teardown_request(_end)


def _start() -> None:
    offered = request.headers.get("X-Request-Id", "")
    request_id = offered if _TOKEN.match(offered) else uuid.uuid4().hex
    g.request_log = (REQUEST_ID.set(request_id), time.perf_counter())


def _log(response: Response) -> Response:
    started = g.get("request_log", (None, time.perf_counter()))[1]
    request_id = REQUEST_ID.get()
    if request_id:
        response.headers["X-Request-Id"] = request_id
    fields: dict[str, object] = {
        "request_id": request_id,
        "method": request.method,
        "route": request.url_rule.rule if request.url_rule else None,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    call_sid = _call_sid()
    if call_sid:
        fields["call_sid"] = call_sid
    access.info("request", extra={"fields": fields})
    return response


def _call_sid() -> str | None:
    # Only a form already parsed (a webhook's): parsing one here could raise (too large).
    form = request.__dict__.get("form")
    value = (form.get("CallSid") if form is not None else None) or request.args.get("CallSid")
    return value if value and _CALL_SID.match(value) else None


def _end(_exc: BaseException | None) -> None:
    started = g.pop("request_log", None)
    if started is not None:
        REQUEST_ID.reset(started[0])
