"""gunicorn settings of the web process, loaded by the Procfile's `--config python:gateway.serving`.

Only what the command line cannot say lives here: hooks.
"""

from __future__ import annotations

import gc
import os
from typing import Any

from gateway.adapters.spool import SpoolingSink
from gateway.checks import refuse_to_start_on_errors
from gateway.tracing import configure_logging


def on_starting(server: Any) -> None:
    """Before gunicorn binds or forks: refuse to start on configuration errors, listing
    them all (gateway.checks); Redis or the store being down does not stop a start."""
    del server
    refuse_to_start_on_errors(os.environ, "web")


def post_fork(server: Any, worker: Any) -> None:
    """Before a worker loads the app: its log lines go to stderr as JSON (gateway.tracing)."""
    del server, worker  # gunicorn passes them; nothing here needs them
    configure_logging()


def post_worker_init(worker: Any) -> None:
    """Once a worker has loaded the app: start its event spool's replay, and keep Python's
    cyclic GC off what it loaded.

    The routing tables (county shapes, ZIP and area-code tables) and the app are made once
    per worker and live as long as it does. A full collection walked all of them: about
    60 ms here, during whichever webhook triggered it, and every webhook queued behind it
    waited as long. gc.freeze() moves them out of the collector's view (the use Python
    documents it for); what the worker allocates afterwards is still collected.
    """
    app = getattr(worker, "wsgi", None)
    spool = getattr(app, "extensions", {}).get("event_spool")
    if isinstance(spool, SpoolingSink):
        spool.start_replaying()  # events spooled while Redis was out go on without help
    gc.freeze()
