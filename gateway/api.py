"""The PSAP-facing API: ask for a transfer, follow it, or just ask where a caller would go.

Every endpoint takes `Authorization: Bearer <PSAP API key>` (PSAP_API_KEYS). Answers are
JSON. A malformed request is a 400 and a caller who may not transfer is a 422, both with a
machine-readable reason; live state unavailable (Redis down) is a 503.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from gateway.context import gateway
from gateway.intake import InputError, Refusal, parse_request, parse_route_query
from gateway.security import psap_key_required
from gateway.transfers import transfer_view

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.errorhandler(InputError)
def bad_input(error: InputError) -> ResponseReturnValue:
    return jsonify(error.to_dict()), 400


@bp.errorhandler(redis.RedisError)
def state_unavailable(error: redis.RedisError) -> ResponseReturnValue:
    log.error("live transfer state unavailable: %s", type(error).__name__)
    body = {"error": "state-unavailable", "message": "transfer state is unavailable; retry"}
    return jsonify(body), 503


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise InputError("invalid-json", "the body must be JSON (Content-Type: application/json)")
    return body


@bp.post("/transfers")
@psap_key_required
def create_transfer() -> ResponseReturnValue:
    """Check eligibility, route, and register a transfer for the caller's call."""
    outcome = gateway().service.request_transfer(g.psap_id, parse_request(_json_body()))
    if isinstance(outcome, Refusal):
        return jsonify(outcome.to_dict()), 422
    transfer, decision = outcome.transfer, outcome.decision
    body = {
        "eligible": True,
        "transfer_id": transfer.id,
        "transfer_code": transfer.code,
        "center": {"id": decision.center_id, "name": decision.center_name},
        "explanation": decision.explanation,
        "conference_number": outcome.conference_number,
        "dial_plan": list(decision.dial_plan),
        "status_url": f"/api/v1/transfers/{transfer.id}",
    }
    return jsonify(body), 201


@bp.get("/transfers/<transfer_id>")
@psap_key_required
def show_transfer(transfer_id: str) -> ResponseReturnValue:
    """The live state and timeline of one of this PSAP's transfers."""
    transfer = gateway().service.status(transfer_id, g.psap_id)
    if transfer is None:
        return jsonify({"error": "not-found", "message": "no such transfer for this PSAP"}), 404
    return jsonify(transfer_view(transfer))


@bp.post("/route")
@psap_key_required
def route() -> ResponseReturnValue:
    """Where a caller would go, and why: nothing is registered or dialed."""
    query = parse_route_query(_json_body())
    return jsonify(gateway().service.route_only(g.psap_id, query).to_dict())
