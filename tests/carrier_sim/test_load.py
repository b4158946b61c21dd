"""Load mode: many concurrent calls from one scenario, and the simulator's own overhead."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from werkzeug.serving import make_server

from carrier_sim.load import LoadRun, Overhead, percentile, report
from carrier_sim.scenario import Caller, scenario_from_dict
from carrier_sim.simulator import Simulator
from carrier_sim.timeline import Timeline
from gateway.adapters.records import MemoryRecorder
from gateway.adapters.watchdog import Watchdog
from gateway.app import create_app, redis_client
from gateway.domain.events import MemorySink
from gateway.settings import FlowConfig, Settings
from tests.carrier_sim.apps import AUTH_TOKEN, CENTER_A, Seen, twiml_app
from tests.carrier_sim.conftest import scenario

PSAP_KEY = "load-test-psap-key-0123456789"
WYANDOTTE_LINE = "+19135550120"
GATEWAY_NUMBER = "+19135550150"
KC_KANSAS = "+19135550102"
PSAP_ESCALATION = "+19135550121"
TRANSFER = {
    "callback_number": "+18165550123",
    "location": {"lat": 39.1141, "lon": -94.6275, "radius_m": 50},
    "risk": "mild",
    "call_type": "emotional-distress",
    "consent": True,
    "language": "en",
    "summary": "Caller is overwhelmed after losing a job; no plan to harm self.",
}


def test_copies_of_a_call_share_a_line_and_each_is_connected() -> None:
    dial = f"<Response><Dial><Number>{CENTER_A}</Number></Dial></Response>"
    sim = Simulator(app=twiml_app({"/voice": dial}, Seen()), auth_token=AUTH_TOKEN)
    plan = scenario(
        [{"at": 20, "hangup": True}],
        [{"number": CENTER_A, "name": "center-a", "answer": 2}],
    )

    run = sim.run_many(plan, 3, stagger_s=1.0)

    assert run.callers == ["caller-001", "caller-002", "caller-003"]
    assert run.connected("center-a") == run.callers
    arrivals = [run.per_call()[c][0].t for c in run.callers]
    assert arrivals == [0.0, 1.0, 2.0]
    assert all(len(run.call_sids(c)) == 2 for c in run.callers)


def test_a_load_run_needs_at_least_one_call() -> None:
    sim = Simulator(app=twiml_app({}, Seen()), auth_token=AUTH_TOKEN)

    with pytest.raises(ValueError, match="at least 1"):
        sim.run_many(scenario(), 0)


def test_the_ring_delay_counts_from_the_webhook_that_led_to_the_ring_not_a_wait_document() -> None:
    timeline = Timeline("two calls")
    for n, (caller, center) in enumerate([("caller-001", "CA01"), ("caller-002", "CA02")]):
        own = f"CAcaller{n}"
        # The same deadline in both calls' waitUrls: a number, not a token linking them.
        query = f"?t=tr_{n}abcdef012345&d=1795672548"
        timeline.add(0.0, "webhook", caller, own, "", url=f"/voice{query}", started=0.10)
        timeline.add(0.2, "webhook", caller, own, "", url=f"/wait{query}", started=0.15, media=True)
        timeline.add(0.2, "rest", "kc-kansas", center, "", at=0.16)
        timeline.add(1.0, "webhook", "kc-kansas", center, "", url=f"/whisper{query}", started=1.0)
    run = LoadRun(timeline, ["caller-001", "caller-002"], Overhead(0.0, 0.0, 0.0, [], [], 0.0))

    assert run.ring_delays({"kc-kansas"}) == pytest.approx([0.06, 0.06])


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 99) == 0.0


@pytest.fixture
def load_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis_client(redis_url)
    _clear(client)
    yield client
    _clear(client)
    client.close()


def _clear(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match="g988:*", count=500))
    if keys:
        client.delete(*keys)


def test_five_concurrent_calls_are_transferred_and_escalated_by_a_gateway_over_http(
    load_redis: redis.Redis, redis_url: str
) -> None:
    sim = Simulator(
        base_url="http://127.0.0.1:1", auth_token=AUTH_TOKEN, clock="real", idle_grace=0.5
    )
    api = sim.serve_api()
    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda e, s: holder["app"](e, s), threaded=True)
    url = f"http://127.0.0.1:{server.port}"
    sim.app_url = url
    settings = Settings(
        twilio_account_sid=sim.account_sid,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=api,
        public_base_url=url,
        redis_url=redis_url,
    )
    holder["app"] = create_app(
        settings,
        redis=load_redis,
        event_sink=MemorySink(),
        flow=FlowConfig(psap_api_keys={PSAP_KEY: "wyandotte-911"}),
        recorder=MemoryRecorder(settings),
        watchdog=Watchdog(None),  # no queue and no worker: escalation must not wait for one
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ids = [_register(url) for _ in range(5)]

        def own_transfer(i: int, caller: Caller) -> Caller:
            return dataclasses.replace(caller, sip_headers={"X-Transfer-Id": ids[i]})

        run = sim.run_many(_accept_then_escalate(), 5, stagger_s=0.1, vary=own_transfer)
        assert run.overhead.sender_cpu_s > 0  # a child process sent and timed the webhooks
    finally:
        server.shutdown()
        server.server_close()
        sim.close()
        thread.join(timeout=5)

    _assert_every_call_went_through(run)


def _register(url: str) -> str:
    response = requests.post(
        f"{url}/api/v1/transfers",
        json=TRANSFER,
        headers={"Authorization": f"Bearer {PSAP_KEY}"},
        timeout=5,
    )
    assert response.status_code == 201, response.text
    transfer_id: str = response.json()["transfer_id"]
    return transfer_id


def _accept_then_escalate() -> Any:
    return scenario_from_dict(
        {
            "name": "load test",
            "caller": {
                "from": WYANDOTTE_LINE,
                "to": GATEWAY_NUMBER,
                "actions": [{"at": 10, "hangup": True}],
            },
            "lines": [
                {
                    "number": KC_KANSAS,
                    "name": "kc-kansas",
                    "answer": 0.5,
                    # Whisper after 2 s of machine detection; joins 4.8 s after accepting.
                    "actions": [
                        {"at": 2.5, "press": "1"},
                        {"at": 7.5, "press": "*"},
                        {"at": 8, "press": "9"},
                    ],
                },
                {
                    "number": PSAP_ESCALATION,
                    "name": "psap-escalation",
                    "answer": 0.5,
                },
            ],
            "app": {
                "voice_url": "/voice",
                "fallback_url": "/voice/fallback",
                "status_callback": "/voice/status",
            },
            "max_duration": 15,
        }
    )


def _assert_every_call_went_through(run: LoadRun) -> None:
    assert not run.webhook_errors(), report(run)
    assert run.connected("kc-kansas") == run.callers, report(run)
    assert run.timeline.party_legs("psap-escalation"), report(run)
    assert len(run.ring_delays({"kc-kansas"})) == 5
    assert len(run.key_delays({"kc-kansas"}, {"psap-escalation"})) == 5
    assert run.overhead.lags_s and run.overhead.cpu_s > 0
    assert "5 calls" in report(run)
