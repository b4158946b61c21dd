"""REST requests to Twilio that a webhook starts, sent once the webhook has answered.

Twilio does nothing more with a call until its webhook answers, and a REST request to
Twilio takes 100-300 ms from a typical host. Made inside the webhook, each such request
held the caller's TwiML (and a gunicorn worker) that long. So a view decides everything
first, from Redis and the in-memory tables, answers, and only then places the calls it
decided on: `Response.call_on_close`, which a WSGI server (gunicorn, werkzeug) calls after
the response's last byte is written.

Nothing a caller's connection depends on waits for this: every failure path of the work
done afterwards (Twilio refusing a call, Redis gone) already has its own recovery, the
same as a failing status callback: the next center, a redirect of the caller back to 911,
or the escalation watchdog. A failure here is logged; the response is gone, so there is
no one else to tell.

Outside a request (the RQ worker's watchdog, a CLI, or work already running after a
response) scheduled work runs at once and its exceptions propagate, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from flask import Response, after_this_request, g, has_request_context

log = logging.getLogger(__name__)

Work = Callable[[], None]
_PENDING = "gateway_after_response"


def run_now(work: Work) -> None:
    """The scheduler outside the web app: do the work at once."""
    work()


def after_response(work: Work) -> None:
    """Run `work` once the current response has been sent; at once outside a request.

    Work scheduled during one request runs in the order it was scheduled.
    """
    if not has_request_context():
        work()
        return
    pending: list[Work] | None = g.get(_PENDING)
    if pending is None:
        pending = []
        setattr(g, _PENDING, pending)
        after_this_request(partial(_attach, pending))
    pending.append(work)


def _attach(pending: list[Work], response: Response) -> Response:
    response.call_on_close(partial(_run_all, pending))
    return response


def _run_all(pending: list[Work]) -> None:
    while pending:
        work = pending.pop(0)
        try:
            work()
        except Exception:
            # One failure must not keep the rest (another leg's cancel, say) from running.
            log.exception("work after a webhook's response failed")
