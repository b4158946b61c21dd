"""Every error of the APIs answered as JSON, and no input answered with a 5xx.

The PSAP and center APIs, the reports and /metrics, health: an HTTP error (404, 405, 413,
...) is `{"error": "<kind>", "message": "..."}` with its status. The outcome store being
down or not migrated is a 503 of the same shape, never a 500; a request body that did not
arrive in time is a 408. Webhooks (/voice) keep their own answers (TwiML, always 200 once
signed), and the call-taker's pages their HTML.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ClientDisconnected, HTTPException

from gateway.web_worker import RequestTooSlow

log = logging.getLogger(__name__)
# Blueprints whose errors are not JSON: Twilio's webhooks, and the pages people read (the
# call-taker's page is the blueprint "web", the administrators' "admin", the analysts'
# "reports_page").
_NOT_JSON = {"voice", "web", "admin", "reports_page"}


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SQLAlchemyError, _store_unavailable)
    app.register_error_handler(RequestTooSlow, _too_slow)
    # How werkzeug reports a body that stopped arriving (gateway.web_worker's deadline
    # passed, or the client went away): a 408, to whoever is still listening.
    app.register_error_handler(ClientDisconnected, _too_slow)


def _http_error(error: HTTPException) -> ResponseReturnValue:
    if request.blueprint in _NOT_JSON:
        return error
    kind = (error.name or "error").lower().replace(" ", "-")
    return jsonify(error=kind, message=error.description), error.code or 500


def _store_unavailable(error: SQLAlchemyError) -> ResponseReturnValue:
    # The class only: a database's message can quote the statement's values.
    log.error("outcome store unavailable: %s", type(error).__name__)
    message = "the outcome store is unavailable or not migrated; retry later"
    return jsonify(error="store-unavailable", message=message), 503


def _too_slow(error: Exception) -> ResponseReturnValue:
    message = "the request did not arrive whole in time"
    return jsonify(error="request-timeout", message=message), 408
