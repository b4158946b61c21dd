"""REST requests to Twilio that a webhook starts, sent once the webhook has answered.

Twilio does nothing more with a call until its webhook answers, and a REST request to
Twilio takes 100-300 ms from a typical host. Made inside the webhook, each such request
held the caller's TwiML (and a gunicorn worker) that long. So a view decides everything
first, from Redis and the in-memory tables, answers, and only then places the calls it
decided on: `Response.call_on_close`, which a WSGI server (gunicorn, werkzeug) calls after
the response's last byte is written, either on a small thread pool (in production, so
the worker is free for the next webhook) or in the worker itself.

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
import threading
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from functools import partial

from flask import Response, after_this_request, g, has_request_context

from gateway.services.dialing import Work

log = logging.getLogger(__name__)

_PENDING = "gateway_after_response"


class AfterResponse:
    """Schedules work for after the current response (the web app's `after`).

    Args:
        threads: run each response's work on a pool of this many threads in the process,
            so a sync gunicorn worker goes back to answering webhooks while the REST
            requests wait on Twilio; 0 runs it in the worker itself, when the server closes
            the response (in-process apps on the simulator's virtual clock need that order).
    """

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def __call__(self, work: Work) -> None:
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
            after_this_request(partial(self._attach, pending))
        # Its log lines and the jobs it enqueues still belong to this request (its id).
        pending.append(partial(copy_context().run, work))

    def _attach(self, pending: list[Work], response: Response) -> Response:
        response.call_on_close(partial(self._start, pending))
        return response

    def _start(self, pending: list[Work]) -> None:
        if self.threads <= 0:
            _run_all(pending)
        else:
            self._executor().submit(_run_all, pending)

    def _executor(self) -> ThreadPoolExecutor:
        # Made on first use, in the gunicorn worker: a pool made before the fork would
        # have no threads in the child. Its threads are joined when the worker exits, so
        # a graceful restart finishes the REST requests already decided on.
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="after-response")
            return self._pool


def _run_all(pending: list[Work]) -> None:
    while pending:
        work = pending.pop(0)
        try:
            work()
        except Exception:
            # One failure must not keep the rest (another leg's cancel, say) from running.
            log.exception("work after a webhook's response failed")
