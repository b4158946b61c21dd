"""The gateway played end to end: its Flask app, the carrier simulator, and a real Redis.

`Harness` wires them together the way production does, through the seams: the app's
Twilio client is the simulator's, its clock is the simulator's virtual clock, its events go
to a MemorySink, and its state lives in the real Redis the session fixture provides.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from rq import Queue
from rq.registry import ScheduledJobRegistry
from twilio.http import HttpClient
from twilio.http.response import Response
from werkzeug.test import TestResponse

from carrier_sim.scenario import scenario_from_dict
from carrier_sim.simulator import Simulator
from carrier_sim.timeline import Timeline
from gateway.adapters.live_state import TransferStore
from gateway.adapters.records import MemoryRecorder
from gateway.adapters.watchdog import WATCHDOG_DELAY_S, Watchdog, escalation_queue
from gateway.app import create_app
from gateway.domain.events import EventKind, MemorySink
from gateway.domain.transfer import Transfer
from gateway.settings import FlowConfig, Settings
from gateway.telephony import build_client
from routing.engine import Router

AUTH_TOKEN = "app-test-token-0123456789abcdef"
CALLER_HASH_KEY = "app-test-caller-hash-key"
ENCRYPTION_KEY = "Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXktMDE="  # Fernet: 32 bytes, base64
PUBLIC_URL = "https://gateway.test"
# Every sample number is fictional, 555-0100..555-0199; "555" alone is not enough to spot
# one, since random transfer ids and hashes contain it now and then.
_SAMPLE_NUMBER = re.compile(r"555\D?01\d\d")


def shows_a_phone_number(text: str) -> bool:
    """True when `text` carries one of the sample phone numbers, in any usual spelling."""
    return _SAMPLE_NUMBER.search(text) is not None


GATEWAY_NUMBER = "+19135550150"
WYANDOTTE_LINE = "+19135550120"  # Sample Wyandotte County 911 (config/tables/psaps.yaml)
DOUGLAS_LINE = "+17855550140"
UNKNOWN_LINE = "+19135550199"
KC_KANSAS = "+19135550102"
KS_STATEWIDE = "+17855550101"
NATIONAL = "+18005550199"
WYANDOTTE_KEY = "wyandotte-key-0123456789"
DOUGLAS_KEY = "douglas-key-0123456789ab"
KC_KANSAS_CENTER_KEY = "kc-kansas-center-key-0123"
KS_STATEWIDE_CENTER_KEY = "ks-statewide-center-key-01"
PSAP_ESCALATION = "+19135550121"  # Sample Wyandotte County 911's escalation line
PSAP_ALTERNATE = "+19135550122"  # ... and its alternate

# A Kansas caller in Kansas City, KS with a Missouri (816) cell phone.
KANSAS_CITY_KS = {"lat": 39.1141, "lon": -94.6275, "radius_m": 50}
ELIGIBLE = {
    "callback_number": "+18165550123",
    "location": KANSAS_CITY_KS,
    "risk": "mild",
    "call_type": "emotional-distress",
    "consent": True,
    "language": "en",
    "summary": "Caller is overwhelmed after losing a job; no plan to harm self.",
}
ACCEPTS = [{"at": 3, "press": "1"}, {"at": 90, "hangup": True}]


def line(number: str, name: str, **behaviour: Any) -> dict[str, Any]:
    """A destination line of a scenario."""
    return {"number": number, "name": name, **behaviour}


class ClosingClient(FlaskClient):
    """Closes each response, as a WSGI server does once it has sent it: that is what runs
    the work a view scheduled for after its response (gateway.web.afterwards)."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@dataclass
class NetworkFault:
    """One REST request to Twilio that gets no answer (used once).

    Attributes:
        resource: the end of its URL, e.g. "Calls.json".
        kind: "refused" (it never reaches Twilio: a connection error), "lost" (Twilio
            carries it out, but the answer is lost: a read timeout), or "slow" (it goes
            through, and `meanwhile` runs while it is on its way).
        to: only a request with this To parameter.
    """

    resource: str
    kind: str
    to: str | None = None
    method: str = "POST"
    meanwhile: Callable[[], None] | None = None

    def matches(self, method: str, url: str, data: dict[str, object] | None) -> bool:
        to = (data or {}).get("To")
        return method == self.method and url.endswith("/" + self.resource) and self.to in (None, to)


class FlakyNetwork(HttpClient):  # type: ignore[misc]  # twilio ships no type information
    """The network between the gateway and the simulator's REST API, failing on demand:
    requests' own exceptions, as twilio's HTTP client lets them through."""

    def __init__(self, inner: HttpClient, faults: list[NetworkFault]) -> None:
        super().__init__(logger=None, is_async=False)
        self.inner, self.faults = inner, faults
        self.sent: list[str] = []  # "METHOD url" of every request, answered or not

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        self.sent.append(f"{method} {url}")
        fault = next((f for f in self.faults if f.matches(method, url, kwargs.get("data"))), None)
        if fault is None:
            return self.inner.request(method, url, **kwargs)
        self.faults.remove(fault)
        if fault.meanwhile is not None:
            fault.meanwhile()
        if fault.kind == "slow":
            return self.inner.request(method, url, **kwargs)
        if fault.kind == "refused":
            raise requests.ConnectionError("connection refused")
        self.inner.request(method, url, **kwargs)
        raise requests.ReadTimeout("read timed out")


@dataclass
class Harness:
    """One gateway app under test with its simulator, sink and Redis.

    Escalation watchdog jobs go to a queue of the harness's own (`queue`), scheduled
    `watchdog_delay_s` real seconds ahead; nothing runs them unless a test does.
    """

    router: Router
    redis: redis.Redis
    deadline_s: int = 90
    sink: MemorySink = field(default_factory=MemorySink)
    watchdog_delay_s: float = WATCHDOG_DELAY_S
    encryption_key: str = ENCRYPTION_KEY

    def __post_init__(self) -> None:
        holder: dict[str, Flask] = {}
        # Webhook paths whose requests are lost on the way (answered 204, never handled).
        self.lost_paths: set[str] = set()
        # REST requests to Twilio that get no answer (see NetworkFault).
        self.network_faults: list[NetworkFault] = []
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._armed = False

        def wsgi(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
            if not self._armed:
                self._arm()
            if environ.get("PATH_INFO") in self.lost_paths:
                start("204 No Content", [])
                return [b""]
            response: Iterable[bytes] = holder["app"](environ, start)
            return response

        self.sim = Simulator(
            app=wsgi,
            auth_token=AUTH_TOKEN,
            public_url=PUBLIC_URL,
        )
        self.network = FlakyNetwork(self.sim.http_client(), self.network_faults)
        settings = Settings(
            twilio_account_sid=self.sim.account_sid,
            twilio_auth_token=AUTH_TOKEN,
            public_base_url=PUBLIC_URL,
            transfer_deadline_s=self.deadline_s,
            after_response_threads=0,  # in process: done before the virtual clock moves on
            caller_hash_key=CALLER_HASH_KEY,
            encryption_key=self.encryption_key,
        )
        self.recorder = MemoryRecorder(settings)
        flow = FlowConfig(
            gateway_number=GATEWAY_NUMBER,
            psap_api_keys={WYANDOTTE_KEY: "wyandotte-911", DOUGLAS_KEY: "douglas-911"},
            center_api_keys={
                KC_KANSAS_CENTER_KEY: "kc-kansas",
                KS_STATEWIDE_CENTER_KEY: "ks-statewide",
            },
        )
        self.queue: Queue = escalation_queue(self.redis, f"escalations-test-{secrets.token_hex(4)}")
        self.app = create_app(
            settings,
            router=self.router,
            twilio_client=build_client(self.sim.account_sid, AUTH_TOKEN, http_client=self.network),
            event_sink=self.sink,
            redis=self.redis,
            flow=flow,
            clock=self.now,
            watchdog=Watchdog(self.queue, self.watchdog_delay_s),
            recorder=self.recorder,
        )
        holder["app"] = self.app
        self.store = TransferStore(self.redis)

    def now(self) -> datetime:
        """The simulator's virtual time, as the gateway sees it."""
        engine = self.sim.engine
        return engine.config.epoch + timedelta(seconds=engine.now())

    def client(self) -> FlaskClient:
        self.app.test_client_class = ClosingClient
        return self.app.test_client()

    def post_json(self, path: str, body: object, key: str = WYANDOTTE_KEY) -> TestResponse:
        return self.client().post(
            path, json=body, headers={"Authorization": f"Bearer {key}"}, base_url=PUBLIC_URL
        )

    def register(self, **changes: Any) -> dict[str, Any]:
        """Register an eligible transfer (as the Wyandotte PSAP) and return the answer."""
        response = self.post_json("/api/v1/transfers", {**ELIGIBLE, **changes})
        assert response.status_code == 201, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    def play(
        self,
        lines: list[dict[str, Any]],
        caller_actions: list[dict[str, Any]] | None = None,
        *,
        sip_headers: dict[str, str] | None = None,
        from_: str = WYANDOTTE_LINE,
        **top: Any,
    ) -> Timeline:
        """Play a call from a PSAP line to the gateway number."""
        data = {
            "name": "gateway",
            "caller": {
                "from": from_,
                "to": GATEWAY_NUMBER,
                "sip_headers": sip_headers or {},
                "actions": caller_actions or [{"at": 150, "hangup": True}],
            },
            "lines": lines,
            "app": {
                "voice_url": "/voice",
                "fallback_url": "/voice/fallback",
                "status_callback": "/voice/status",
            },
            **top,
        }
        self._armed = False
        return self.sim.run(scenario_from_dict(data))

    def at(self, t: float, action: Callable[[], None]) -> None:
        """Run `action` at virtual time `t` of the next run, as another process would:
        outside the simulator's lock, so it may use the REST API and the app."""
        self._timers.append((t, action))

    def _arm(self) -> None:
        # The first webhook of a run: its engine exists now, so the timers can be set.
        self._armed = True
        engine = self.sim.engine
        for t, action in self._timers:

            def run(action: Callable[[], None] = action) -> None:
                with engine.unlocked():
                    action()

            engine.scheduler.call_at(t, run, "test action")

    def scheduled_watchdogs(self) -> list[list[Any]]:
        """The arguments of every escalation watchdog job waiting for its time."""
        registry = ScheduledJobRegistry(queue=self.queue)
        jobs = [self.queue.fetch_job(job_id) for job_id in registry.get_job_ids()]
        return [list(job.args) for job in jobs if job is not None]

    def close(self) -> None:
        """Remove the harness's queue, its jobs and its scheduled jobs from Redis."""
        registry = ScheduledJobRegistry(queue=self.queue)
        for job_id in registry.get_job_ids():
            job = self.queue.fetch_job(job_id)
            if job is not None:
                job.delete()
        self.queue.delete(delete_jobs=True)

    def transfer(self, transfer_id: str) -> Transfer:
        found = self.store.get(transfer_id)
        assert found is not None
        return found

    def kinds(self, transfer_id: str | None = None) -> list[EventKind]:
        return self.sink.kinds(transfer_id)


def assert_caller_never_dropped(timeline: Timeline) -> None:
    """The invariant: the gateway never ends the caller's leg.

    The inbound leg is the PSAP's line with the caller on it: while it is up, a 911
    call-taker or a counselor is with the caller. So the gateway may never be the one to
    end it (TwiML, REST or an application error); only the caller or 911 may.
    """
    assert not timeline.disconnected_by_application("caller"), timeline.render()
    assert not timeline.errors(), [e.text for e in timeline.errors()]
    for leg in timeline.party_legs("caller"):
        assert leg.ended_by in (None, "party"), (leg.ended_by, leg.end_reason)


def said(timeline: Timeline, party: str) -> list[str]:
    """What a party heard spoken, in order."""
    return [e.text for e in timeline.of_kind("media", party) if e.text.startswith("says")]
