"""The REST API against Twilio's published API definition, through the official twilio client.

A warm transfer is played while the application drives the REST API with the twilio client
(calls with answering machine detection, a conference participant, updates, lists); then
every resource left is fetched, listed, updated and deleted, and a few requests are made to
fail. Every exchange is recorded on the wire and checked against the facts
scripts/derive_twilio_api_facts.py derives from Twilio's `twilio-oai` definition: the
status code of each operation, and each JSON body's property names, types, nullability,
SID patterns, date formats and enums.
"""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from carrier_sim.simulator import Simulator
from tests.carrier_sim.apps import (
    AUTH_TOKEN,
    CENTER_A,
    CENTER_B,
    GATEWAY_NUMBER,
    Seen,
    scripted_app,
)
from tests.carrier_sim.conftest import scenario

FACTS = json.loads((Path(__file__).parent / "twilio_api_facts.json").read_text())
APP = "https://gateway.test"
ROOM = "room-0101"
API = re.compile(r"^/2010-04-01/Accounts/AC[0-9a-f]{32}(?P<path>/[^?]*)")
# Twilio's error body (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions);
# the definition has no schema for it.
ERROR_BODY = {"code": int, "message": str, "more_info": str, "status": int}
# The error codes the simulator answers with, each one Twilio documents for that case.
TWILIO_ERROR_CODES = {20001, 20003, 20404, 21201, 21205, 21208, 21211, 21212, 21220, 21626}
TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "number": (int, float),
    "object": dict,
    "array": list,
}

Exchange = tuple[str, str, int, str]


class RecordingHttpClient(HttpClient):  # type: ignore[misc]  # twilio ships no type information
    """Passes requests to the simulator's in-process client and keeps what went over."""

    def __init__(self, inner: HttpClient) -> None:
        super().__init__(logger=None, is_async=False)
        self.inner = inner
        self.exchanges: list[Exchange] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        response: Response = self.inner.request(method, url, *args, **kwargs)
        self.exchanges.append((method.upper(), url, response.status_code, response.text))
        return response


def _operation(method: str, url: str) -> tuple[str, dict[str, Any]]:
    match = API.match(urlsplit(url).path)
    assert match, url
    path = match["path"]
    for key, fact in FACTS["operations"].items():
        verb, template = key.split(" ", 1)
        pattern = re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(template))
        if verb == method and re.fullmatch(pattern, path):
            return key, fact
    raise AssertionError(f"{method} {path} is not an operation of the definition")


def _value_errors(name: str, value: Any, rule: dict[str, Any]) -> list[str]:
    if value is None:
        return [] if rule.get("nullable") else [f"{name} is null"]
    expected = TYPES[rule.get("type", "string")]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return [f"{name}={value!r} is not {rule.get('type')}"]
    problems = []
    if "pattern" in rule and not re.fullmatch(rule["pattern"], value):
        problems.append(f"{name}={value!r} does not match {rule['pattern']}")
    if "enum" in rule and value not in rule["enum"]:
        problems.append(f"{name}={value!r} is not one of {rule['enum']}")
    if rule.get("format") == "date-time-rfc-2822" and parsedate_to_datetime(value) is None:
        problems.append(f"{name}={value!r} is not an RFC 2822 date")
    if rule.get("format") == "uri" and not value.startswith(("/", "http")):
        problems.append(f"{name}={value!r} is not a URI")
    return problems


def _object_errors(where: str, body: dict[str, Any], rules: dict[str, Any]) -> list[str]:
    problems = [f"{where}: {name} missing" for name in sorted(set(rules) - set(body))]
    problems += [f"{where}: {name} not in Twilio's API" for name in sorted(set(body) - set(rules))]
    for name in sorted(set(rules) & set(body)):
        problems += [f"{where}: {p}" for p in _value_errors(name, body[name], rules[name])]
    return problems


def _exchange_errors(exchange: Exchange) -> list[str]:
    method, url, status, text = exchange
    key, fact = _operation(method, url)
    if status >= 400:
        body = json.loads(text)
        shape = all(isinstance(body.get(name), kind) for name, kind in ERROR_BODY.items())
        problems = [] if shape else [f"{key}: error body {body}"]
        if body.get("code") not in TWILIO_ERROR_CODES or body.get("status") != status:
            problems.append(f"{key}: error {status} {body.get('code')}")
        return problems
    if status != fact["status"]:
        return [f"{key}: status {status}, Twilio answers {fact['status']}"]
    if "resource" not in fact:
        return [] if text == "" else [f"{key}: a body where Twilio sends none"]
    body = json.loads(text)
    resource = FACTS["resources"][fact["resource"]]
    if "list" not in fact:
        return _object_errors(key, body, resource)
    items = body.pop(fact["list"])
    problems = _object_errors(f"{key} envelope", body, fact["envelope"])
    for item in items:
        problems += _object_errors(f"{key} item", item, resource)
    return problems


def _play_a_transfer() -> tuple[Simulator, RecordingHttpClient, Client]:
    holder: dict[str, Client] = {}

    def on_arrival(form: dict[str, str]) -> None:
        client = holder["client"]
        participant = client.conferences(ROOM).participants.create(
            from_=GATEWAY_NUMBER,
            to=CENTER_A,
            label="counselor",
            machine_detection="Enable",
            conference_status_callback=f"{APP}/events",
        )
        client.calls.create(
            to=CENTER_B, from_=GATEWAY_NUMBER, url=f"{APP}/whisper", machine_detection="Enable"
        )
        client.conferences.list(friendly_name=ROOM)
        client.conferences(participant.conference_sid).participants.list()
        client.conferences(participant.conference_sid).participants("counselor").fetch()

    def on_whisper(form: dict[str, str]) -> None:
        client = holder["client"]
        client.calls(form["CallSid"]).fetch()
        client.calls(form["CallSid"]).update(twiml="<Response><Hangup/></Response>")

    documents = {
        "/voice": f'<Response><Dial><Conference startConferenceOnEnter="false" '
        f'participantLabel="caller">{ROOM}</Conference></Dial></Response>',
        "/whisper": '<Response><Pause length="30"/></Response>',
    }
    hooks = {"/voice": on_arrival, "/whisper": on_whisper}
    sim = Simulator(app=scripted_app(documents, Seen(), hooks), auth_token=AUTH_TOKEN)
    recorder = RecordingHttpClient(sim.http_client())
    client = holder["client"] = Client(sim.account_sid, AUTH_TOKEN, http_client=recorder)
    lines = [
        {"number": CENTER_A, "answer": 5, "actions": [{"at": 20, "hangup": True}]},
        {"number": CENTER_B, "outcome": "fax"},
    ]
    sim.run(scenario([{"at": 40, "hangup": True}], lines=lines))
    return sim, recorder, client


def _afterwards(sim: Simulator, client: Client) -> None:
    """Fetch, list, update and delete what the run left, and make a few requests fail."""
    for sid in list(sim.engine.calls):
        client.calls(sid).fetch()
        client.calls(sid).delete()
    for conference in client.conferences.list():
        client.conferences(conference.sid).fetch()
    live = client.conferences(ROOM).participants.create(from_=GATEWAY_NUMBER, to=CENTER_A)
    client.conferences(live.conference_sid).participants(live.call_sid).update(muted=True)
    client.conferences(live.conference_sid).participants(live.call_sid).delete()
    client.conferences(live.conference_sid).update(status="completed")
    failing = [
        lambda: client.calls("CA" + "0" * 32).fetch(),
        lambda: client.calls.create(to="+1555", from_=GATEWAY_NUMBER, url=f"{APP}/x"),
        lambda: client.calls.create(to=CENTER_A, from_=GATEWAY_NUMBER, url="/relative"),
        lambda: client.calls.create(to=CENTER_A, from_=GATEWAY_NUMBER, url=f"{APP}/x", timeout=0),
    ]
    for request in failing:
        with pytest.raises(TwilioRestException):
            request()


def test_every_response_of_the_rest_api_matches_twilios_published_api_definition() -> None:
    sim, recorder, client = _play_a_transfer()
    _afterwards(sim, client)

    operations = {_operation(method, url)[0] for method, url, _, _ in recorder.exchanges}
    assert operations == set(FACTS["operations"]), "every operation served was exercised"
    problems = [p for exchange in recorder.exchanges for p in _exchange_errors(exchange)]
    assert problems == []


def test_the_conformance_check_catches_an_invented_property_and_a_malformed_sid() -> None:
    rules = FACTS["resources"]["call"]
    call = dict.fromkeys(rules) | {"sid": "CA-not-hex", "status": "queued", "invented": 1}

    problems = _object_errors("call", call, rules)

    assert "call: invented not in Twilio's API" in problems
    assert any(p.startswith("call: sid='CA-not-hex' does not match") for p in problems)
