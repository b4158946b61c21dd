"""Who may call which endpoint: Twilio's signature for webhooks, API keys for PSAPs.

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

from gateway.context import gateway

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


def psap_key_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Require `Authorization: Bearer <PSAP API key>`; the PSAP's id goes to `g.psap_id`."""

    @wraps(view)
    def checked(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        owner = key_owner(gateway().flow.psap_api_keys, presented.strip())
        if scheme.lower() != "bearer" or owner is None:
            body = {"error": "unauthorized", "message": "a PSAP API key is required"}
            return jsonify(body), 401
        if owner not in gateway().service.router.tables.psaps:
            body = {"error": "unknown-psap", "message": f"{owner} is not in the PSAP table"}
            return jsonify(body), 403
        g.psap_id = owner
        return view(*args, **kwargs)

    return checked
