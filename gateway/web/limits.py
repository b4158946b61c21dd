"""Limits on what a request may carry: its body's size (per blueprint) and JSON's depth.

Every request body is limited to `DEFAULT_BODY_LIMIT` (1 MiB, answered 413 beyond it):
webhooks, the PSAP and center APIs and the reports carry a few kilobytes at most. A
blueprint that needs more (the admin's table uploads) gets its own limit:

    limits.set_body_limit(app, "admin", 32 * 1024 * 1024)

JSON bodies are parsed with a depth limit (`MAX_JSON_DEPTH`) and without NaN or Infinity
(not JSON, and no number the gateway takes can be either): either is answered as invalid
JSON (400), never a RecursionError.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider

DEFAULT_BODY_LIMIT = 1024 * 1024
# Requests nest two or three levels (a transfer's location, its civic address); 32 leaves
# room for any honest client and stays far below Python's recursion limit.
MAX_JSON_DEPTH = 32
_LIMITS = "gateway.body_limits"


class TooDeep(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH."""


def init_app(app: Flask, default: int = DEFAULT_BODY_LIMIT) -> None:
    """Apply the body limit to every request of `app`, and parse JSON with the depth limit."""
    app.config["MAX_CONTENT_LENGTH"] = default
    app.extensions.setdefault(_LIMITS, {})
    app.json = LimitedJSON(app)
    app.before_request(_apply_limit)


def set_body_limit(app: Flask, blueprint: str, limit: int) -> None:
    """Give the routes of one blueprint (by name) a body limit of their own, in bytes.

    It may come before or after `init_app` (an app made of some blueprints only, in tests).
    """
    app.extensions.setdefault(_LIMITS, {})[blueprint] = limit


def _apply_limit() -> None:
    limits: dict[str, int] = current_app.extensions[_LIMITS]
    if request.blueprint in limits:
        request.max_content_length = limits[request.blueprint]


class LimitedJSON(DefaultJSONProvider):
    """Flask's JSON, reading only documents of bounded depth with finite numbers."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _no_constant)
        try:
            document = json.loads(s, **kwargs)
        except RecursionError:
            raise TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
        _check_depth(document)
        return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_depth(document: object) -> None:
    """Raise TooDeep past MAX_JSON_DEPTH levels (a loop, not recursion)."""
    level: list[object] = [document]
    for _ in range(MAX_JSON_DEPTH):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return
    if any(isinstance(node, dict | list) for node in level):
        raise TooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
