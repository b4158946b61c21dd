"""Generated requests to every route of the app, with valid keys and valid Twilio
signatures, are never answered with a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from routing.engine import Router
from tests.ops.apps import (
    ANALYST_KEY,
    CENTER_KEY,
    PSAP_KEY,
    PUBLIC_URL,
    migrated_sqlite,
    ops_app,
    signed,
)

# Modest, so the suite stays fast; each example is one request to one route.
EXAMPLES = 100
TWILIO_PARAMS = [
    "CallSid", "From", "To", "CallStatus", "Digits", "AnsweredBy", "ConferenceSid",
    "StatusCallbackEvent", "ParticipantLabel", "ReasonParticipantLeft", "DialCallStatus",
    "SipHeader_X-Transfer-Id", "SipHeader_X-Caller-Number", "CallDuration", "Timestamp",
]  # fmt: skip
QUERY_NAMES = ["t", "a", "r", "e", "d", "tries", "from", "to", "by", "period"]
CALL_SID = st.from_regex(r"\ACA[0-9a-f]{32}\Z")
TRANSFER_ID = st.from_regex(r"\Atr_[0-9a-f]{16}\Z")
PATH_SEGMENT = st.from_regex(r"\A[A-Za-z0-9_-]{1,24}\Z")
# Query values as Twilio's URLs carry them (the gateway builds them: ids and numbers); any
# other byte would be re-encoded on the way and fail the signature, testing nothing more.
query_values = st.one_of(st.from_regex(r"\A[A-Za-z0-9_.-]{0,24}\Z"), st.integers().map(str))
text = st.text(max_size=40)
# What Twilio's parameters can hold: any printable text (control characters and lone
# surrogates cannot travel in a form Twilio signs).
printable = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40)
numbers = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
# Bodies shaped like the API's requests, with any value in any field.
FIELDS = ["callback_number", "location", "risk", "call_type", "consent", "language", "summary"]
LOCATION_FIELDS = ["lat", "lon", "radius_m", "civic", "pidf", "zip", "state", "county"]
api_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            **{name: json_values for name in FIELDS},
            "location": st.one_of(
                st.dictionaries(st.sampled_from(LOCATION_FIELDS), json_values),
                st.fixed_dictionaries(
                    {"lat": numbers, "lon": numbers}, optional={"radius_m": numbers}
                ),
            ),
        },
    ),
)


@pytest.fixture(scope="module")
def app(
    router: Router, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    folder: Path = tmp_path_factory.mktemp("no-5xx")
    yield ops_app(router, redis_url, migrated_sqlite(folder))[0]


def _rules(app: Flask) -> list[tuple[str, str]]:
    """Every (route, method) of the app, static files left out."""
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    )


def _headers(route: str) -> dict[str, str]:
    if route.startswith("/reports"):
        return {"Authorization": f"Bearer {ANALYST_KEY}"}
    if route.endswith(("/escalate", "/escalation")):
        return {"Authorization": f"Bearer {CENTER_KEY}"}
    return {"Authorization": f"Bearer {PSAP_KEY}"}


@st.composite
def requests_for(draw: st.DrawFn, app: Flask, prefix: str = "/") -> dict[str, Any]:
    route, method = draw(st.sampled_from([r for r in _rules(app) if r[0].startswith(prefix)]))
    path = route.replace("<transfer_id>", draw(st.one_of(TRANSFER_ID, PATH_SEGMENT)))
    query = draw(st.dictionaries(st.sampled_from(QUERY_NAMES), query_values, max_size=4))
    url = f"{path}?{urlencode(query)}" if query else path
    if route.startswith("/voice"):
        form = draw(st.dictionaries(st.sampled_from(TWILIO_PARAMS), printable, max_size=6))
        form["CallSid"] = draw(CALL_SID)
        signed_params = form if method == "POST" else {}
        return {
            "method": method,
            "path": url,
            "data": form if method == "POST" else None,
            "headers": signed(url, signed_params),
        }
    body = draw(st.one_of(api_bodies.map(json.dumps), st.binary(max_size=200)))
    return {"method": method, "path": url, "data": body, "headers": _headers(route)}


def test_every_route_is_generated(app: Flask) -> None:
    routes = {route for route, _ in _rules(app)}
    assert {"/voice", "/api/v1/transfers", "/reports/summary", "/metrics", "/readyz"} <= routes


def _no_5xx(app: Flask, request: dict[str, Any]) -> None:
    method, path = request.pop("method"), request.pop("path")
    content_type = None if path.startswith("/voice") else "application/json"
    answer = app.test_client().open(
        path, method=method, base_url=PUBLIC_URL, content_type=content_type, **request
    )
    try:
        event(f"{answer.status_code // 100}xx{' signature refused' * (answer.status_code == 403)}")
        assert answer.status_code < 500, (method, path, answer.get_data(as_text=True)[:300])
    finally:
        answer.close()


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=st.data())
def test_no_generated_request_to_any_route_is_answered_with_a_5xx(
    app: Flask, data: st.DataObject
) -> None:
    _no_5xx(app, data.draw(requests_for(app)))


@FUZZ
@given(data=st.data())
def test_no_generated_body_to_the_psap_and_center_api_is_answered_with_a_5xx(
    app: Flask, data: st.DataObject
) -> None:
    _no_5xx(app, data.draw(requests_for(app, "/api/")))
