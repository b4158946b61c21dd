"""The PSAP-facing API: ask for a transfer, follow it, or just ask where a caller would go;
and the 988 center's one endpoint: bring 911 back into a call (escalation bounce-back).

PSAP endpoints take `Authorization: Bearer <PSAP API key>` (PSAP_API_KEYS); the escalation
endpoints take a center's key (CENTER_API_KEYS); the EIDO document takes either. Answers are
JSON. A malformed request is a 400 and a caller who may not transfer is a 422, both with a
machine-readable reason; live state unavailable (Redis down) is a 503.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, ParamSpec

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from gateway.adapters.connections import StateUnavailable
from gateway.domain.transfer import TRANSFER_ID, Transfer
from gateway.services.eido import center_eido, psap_eido
from gateway.services.intake import (
    InputError,
    Refusal,
    parse_request,
    parse_route_query,
    psap_profile,
)
from gateway.web.context import gateway
from gateway.web.security import center_key_required, partner_key_required, psap_key_required

P = ParamSpec("P")
log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")

# What POST .../escalate answers for each outcome of the request.
ESCALATE_ANSWERS: dict[str, tuple[int, str]] = {
    "started": (202, "911 is being called into the call"),
    "in-progress": (200, "911 is already being called; nothing more was dialed"),
    "joined": (200, "911 is already on the call"),
    "forbidden": (403, "this transfer is not connected to your center"),
    "not-connected": (409, "no counselor of your center is connected to this caller"),
    "no-numbers": (409, "the originating 911 center has no escalation line configured"),
}


@bp.errorhandler(InputError)
def bad_input(error: InputError) -> ResponseReturnValue:
    return jsonify(error.to_dict()), 400


@bp.errorhandler(StateUnavailable)
def state_unavailable(error: StateUnavailable) -> ResponseReturnValue:
    log.error("live transfer state unavailable: %s", type(error).__name__)
    body = {"error": "state-unavailable", "message": "transfer state is unavailable; retry"}
    return jsonify(body), 503


def _stored(transfer_id: str) -> Transfer | None:
    """Any PSAP's transfer by id, for a center's endpoints (which check it is theirs)."""
    return gateway().service.store.get(transfer_id) if TRANSFER_ID.match(transfer_id) else None


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise InputError("invalid-json", "the body must be JSON (Content-Type: application/json)")
    return body


@bp.get("/psap")
@psap_key_required
def show_psap() -> ResponseReturnValue:
    """This PSAP's call types and risk levels that may transfer, its partner centers, and
    the number to conference callers to: what a call-taker's form offers."""
    service = gateway().service
    tables = service.router.tables
    return jsonify(psap_profile(tables, g.psap_id, service.flow.gateway_number))


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


@bp.post("/transfers/<transfer_id>/escalate")
@center_key_required
def escalate(transfer_id: str) -> ResponseReturnValue:
    """Bring the originating 911 center back into the caller's room (bounce-back).

    The first 911 line is rung as soon as this has answered (no queue); a repeated request
    dials nothing more. `GET .../escalation` follows its progress.
    """
    result = None
    if TRANSFER_ID.match(transfer_id):
        result = gateway().escalations.request(transfer_id, "api", center_id=g.center_id)
    if result is None:
        return jsonify({"error": "not-found", "message": "no such transfer"}), 404
    code, message = ESCALATE_ANSWERS[result]
    if code >= 400:
        return jsonify({"error": result, "message": message}), code
    return jsonify({"transfer_id": transfer_id, "escalation": result, "message": message}), code


@bp.get("/transfers/<transfer_id>/escalation")
@center_key_required
def show_escalation(transfer_id: str) -> ResponseReturnValue:
    """How the bounce-back to 911 is going, for the center whose counselor has the caller.

    Only the escalation: the center does not see the PSAP's triage or routing details.
    """
    transfer = _stored(transfer_id)
    if transfer is None:
        return jsonify({"error": "not-found", "message": "no such transfer"}), 404
    if not transfer.accepted_by(g.center_id):
        _, message = ESCALATE_ANSWERS["forbidden"]
        return jsonify({"error": "forbidden", "message": message}), 403
    return jsonify({"transfer_id": transfer.id, "escalation": escalation_view(transfer)})


@bp.get("/transfers/<transfer_id>/eido")
@partner_key_required
def show_eido(transfer_id: str) -> ResponseReturnValue:
    """The transfer as a NENA EIDO document (docs/eido.md): for the PSAP that registered
    it, everything it gave; for the center that accepted the caller, what the partnership
    shares. Any other PSAP is told there is no such transfer; any other center, 403."""
    service = gateway().service
    if g.psap_id is not None:
        transfer = service.status(transfer_id, g.psap_id)
        if transfer is None:
            return jsonify({"error": "not-found", "message": "no such transfer for this PSAP"}), 404
        return jsonify(psap_eido(service, transfer))
    transfer = _stored(transfer_id)
    if transfer is None:
        return jsonify({"error": "not-found", "message": "no such transfer"}), 404
    if not transfer.accepted_by(g.center_id):
        message = "this transfer has not been accepted by your center"
        return jsonify({"error": "forbidden", "message": message}), 403
    return jsonify(center_eido(service, transfer, g.center_id))


# -- what the API shows of a transfer -------------------------------------------------


def transfer_view(transfer: Transfer) -> dict[str, Any]:
    """The status API's view of a transfer: live state and timeline, no caller data."""
    current = transfer.attempt(transfer.current)
    return {
        "transfer_id": transfer.id,
        "status": transfer.status,
        "outcome": transfer.outcome or None,
        "origin": transfer.origin,
        "psap_id": transfer.psap_id,
        "risk": transfer.risk,
        "call_type": transfer.call_type,
        "county": transfer.county_name,
        "explanation": transfer.explanation,
        "dial_plan": transfer.dial_plan,
        "current_center_id": current.center_id if current else None,
        "attempts": [
            {"center_id": a.center_id, "status": a.status, "result": a.result or None}
            for a in transfer.attempts
        ],
        "created_at": _iso(transfer.created_at),
        "arrived_at": _iso(transfer.arrived_at),
        "deadline_at": _iso(transfer.deadline_at),
        "timeline": [{**step, "at": _iso(step["at"])} for step in transfer.history],
        "escalation": escalation_view(transfer),
    }


def escalation_view(transfer: Transfer) -> dict[str, Any] | None:
    """The bounce-back's state; numbers are named by their index, never written out."""
    escalation = transfer.escalation
    if escalation is None:
        return None
    return {
        "status": escalation.status,
        "by": escalation.by,
        "requested_at": _iso(escalation.requested_at),
        "attempts": [
            {"number_index": a.number_index, "status": a.status, "result": a.result or None}
            for a in escalation.attempts
        ],
    }


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()
