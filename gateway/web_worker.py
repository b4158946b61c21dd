"""The web process's gunicorn worker: threads, with every connection bounded in time.

gunicorn's sync worker gives each connection the whole worker until its request is read:
two clients that open a connection and send slowly (or nothing) held both workers, and a
signed webhook waited 19 s, past Twilio's 15 s. This worker is gunicorn's gthread worker
(a pool of `--threads` per process) with two bounds, so slow clients cost little and never
for long:

- A new connection takes no thread until its first bytes arrive: it waits in the worker's
  poller, and is closed after `--keep-alive` seconds of silence (gthread alone lends it a
  thread for up to 5 s first).
- Once a request starts, its headers and body must all arrive within
  `REQUEST_READ_S`; a client still sending then gets its connection closed (or, for a body
  the app was reading, a 408). Twilio and the PSAPs' systems send a whole request in
  milliseconds.

So a slow client holds a thread for at most `REQUEST_READ_S`, an idle one holds none, and
webhooks are starved only when more clients than there are threads are all sending slowly
at once (`docs/deployment.md`).
"""

from __future__ import annotations

import math
import socket
import time
from typing import Any

from gunicorn.http.errors import NoMoreData
from gunicorn.workers import gthread

# Seconds for a request's headers and body to arrive, from its first byte.
REQUEST_READ_S = 5.0


class RequestTooSlow(NoMoreData):  # type: ignore[misc]  # gunicorn is untyped
    """A request's bytes did not all arrive by its deadline.

    A kind of gunicorn's NoMoreData, which its worker treats as a client gone: the
    connection is closed with one debug line, not an error and a traceback per slow client
    (an attacker's connections would flood the log). An app reading the body sees it as
    an OSError (answered 408 by gateway.web.errors).
    """

    def __str__(self) -> str:
        return f"the request did not arrive within {REQUEST_READ_S:.0f} s"


class DeadlineSocket:
    """The client socket as gunicorn's HTTP parser reads it: each read is bounded by the
    current request's deadline. Everything else is the socket's own."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = math.inf

    def start_request(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def recv(self, size: int) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise RequestTooSlow()
        prior = self.sock.gettimeout()
        self.sock.settimeout(remaining if prior is None else min(prior, remaining))
        try:
            return self.sock.recv(size)
        except TimeoutError:
            if prior is not None and prior < remaining:
                raise  # the caller's own, shorter timeout (gunicorn draining a body)
            raise RequestTooSlow() from None
        finally:
            self.sock.settimeout(prior)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class BoundedThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    """gthread, where no connection holds a thread while silent or past its deadline."""

    def handle(self, conn: gthread.TConn) -> Any:
        if not conn.initialized:
            if not conn.wait_for_data(0):
                return gthread._DEFER  # back to the poller: no thread while it is silent
            conn.sock.setblocking(True)
            conn.init()
            unreader = getattr(conn.parser, "unreader", None)
            if unreader is not None and hasattr(unreader, "sock"):
                unreader.sock = DeadlineSocket(unreader.sock)
        reader = getattr(getattr(conn.parser, "unreader", None), "sock", None)
        if isinstance(reader, DeadlineSocket):
            reader.start_request(REQUEST_READ_S)
        return super().handle(conn)
