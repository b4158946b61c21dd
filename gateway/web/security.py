"""Who may call which endpoint: Twilio's signature for webhooks, API keys for partners.

Both checks are decorators, shaped like flaskr's `login_required`. A failed check answers
before the view runs, so it changes nothing.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort, g, jsonify, request
from flask.typing import ResponseReturnValue

from gateway.web.context import gateway

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)


def twilio_signed(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Refuse (403) a webhook whose X-Twilio-Signature does not match the URL Twilio saw.

    `request.url` is the public URL because the app runs behind ProxyFix. For GET the
    parameters are in that URL; for POST they are the form.
    """

    @wraps(view)
    def checked(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        signature = request.headers.get("X-Twilio-Signature", "")
        params = request.form if request.method == "POST" else {}
        if not signature or not gateway().validator.validate(request.url, params, signature):
            log.warning("refused a webhook to %s: bad or missing signature", request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked


def key_owner(keys: Mapping[str, str], presented: str) -> str | None:
    """The owner of an API key, compared in constant time against every known key."""
    owner = None
    for key, who in keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            owner = who
    return owner


def _bearer_key_required(
    kind: str,
    keys: Callable[[], Mapping[str, str]],
    known: Callable[[], Mapping[str, object]],
    slot: str,
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """A decorator requiring `Authorization: Bearer <key>` of one kind of partner.

    Args:
        kind: "PSAP" or "988 center", for the error messages.
        keys: the configured key -> owner id map.
        known: the owners the routing tables know (an owner no longer there is refused).
        slot: the attribute of `flask.g` that receives the owner's id.
    """
    table = kind.split()[-1].lower()

    def decorator(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @wraps(view)
        def checked(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
            owner = key_owner(keys(), presented.strip())
            if scheme.lower() != "bearer" or owner is None:
                body = {"error": "unauthorized", "message": f"a {kind} API key is required"}
                return jsonify(body), 401
            if owner not in known():
                message = f"{owner} is not in the {table} table"
                return jsonify({"error": f"unknown-{table}", "message": message}), 403
            setattr(g, slot, owner)
            return view(*args, **kwargs)

        return checked

    return decorator


psap_key_required = _bearer_key_required(
    "PSAP",
    lambda: gateway().flow.psap_api_keys,
    lambda: gateway().service.router.tables.psaps,
    "psap_id",
)
psap_key_required.__doc__ = "Require a PSAP API key; the PSAP's id goes to `g.psap_id`."

center_key_required = _bearer_key_required(
    "988 center",
    lambda: gateway().flow.center_api_keys,
    lambda: gateway().service.router.tables.centers,
    "center_id",
)
center_key_required.__doc__ = "Require a 988 center API key; its id goes to `g.center_id`."


def partner_key_required(
    view: Callable[P, ResponseReturnValue],
) -> Callable[P, ResponseReturnValue]:
    """Require a PSAP's or a 988 center's API key: the owner's id goes to `g.psap_id` or
    `g.center_id` (the other is None), for endpoints both kinds of partner read."""

    @wraps(view)
    def checked(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        flow, tables = gateway().flow, gateway().service.router.tables
        g.psap_id = key_owner(flow.psap_api_keys, presented.strip())
        g.center_id = key_owner(flow.center_api_keys, presented.strip())
        if scheme.lower() != "bearer" or (g.psap_id is None and g.center_id is None):
            message = "a PSAP or 988 center API key is required"
            return jsonify({"error": "unauthorized", "message": message}), 401
        if g.psap_id is not None and g.psap_id not in tables.psaps:
            message = f"{g.psap_id} is not in the psap table"
            return jsonify({"error": "unknown-psap", "message": message}), 403
        if g.center_id is not None and g.center_id not in tables.centers:
            message = f"{g.center_id} is not in the center table"
            return jsonify({"error": "unknown-center", "message": message}), 403
        return view(*args, **kwargs)

    return checked
