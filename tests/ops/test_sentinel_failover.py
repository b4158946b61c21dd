"""A Redis failover under a live call: the Procfile's web and worker on a Sentinel URL, a
real primary, replica and three sentinels, and the carrier simulator on the real clock.

The primary is killed while the gateway rings the first center. The caller must never be
stranded (connected to a counselor or back with 911), new transfers must be accepted again
within 30 s of the kill, and the worker must go on writing the store from the new primary.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from carrier_sim.scenario import scenario_from_dict
from carrier_sim.simulator import Simulator
from gateway.adapters.connections import LIVE, redis_client
from gateway.adapters.store.db import create_store_engine
from gateway.adapters.store.models import TransferEvent
from gateway.settings import DEFAULT_TABLES_DIR
from tests.app.harness import ELIGIBLE, assert_caller_never_dropped, said
from tests.ops.apps import ACCOUNT_SID, AUTH_TOKEN, PSAP_KEY, migrated_sqlite
from tests.ops.processes import free_port, gateway_env, run_procfile, stop
from tests.ops.sentinels import SentinelCluster, sentinel_cluster

GATEWAY_NUMBER = "+19135550150"
WYANDOTTE_LINE = "+19135550120"
KC_KANSAS = "+19135550102"
KS_STATEWIDE = "+17855550101"
# The Kansas center rings this long (real seconds) before the statewide line is tried: the
# primary dies KILL_AT_S into the call, while it rings.
RING_TIMEOUT_S = 10
KILL_AT_S = 3.0
ACCEPTED_AGAIN_WITHIN_S = 30.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    folder = tmp_path / "redis"
    folder.mkdir()
    with sentinel_cluster(folder) as started:
        yield started


def test_a_sentinel_client_reaches_the_new_primary_after_the_old_one_is_killed(
    cluster: SentinelCluster,
) -> None:
    client = redis_client(cluster.url, LIVE)
    client.set("g988:test:before", "1")
    cluster.kill_primary()
    cluster.wait_for_failover(ACCEPTED_AGAIN_WITHIN_S)
    deadline = time.monotonic() + 5
    while True:  # the first command may still meet the dead primary's connection
        try:
            client.set("g988:test:after", "1")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert client.get("g988:test:before") == b"1"  # it had reached the replica


def _tables(folder: Path) -> Path:
    """The sample tables, with the Kansas center ringing RING_TIMEOUT_S seconds."""
    shutil.copytree(DEFAULT_TABLES_DIR, folder)
    centers = folder / "centers.yaml"
    text = centers.read_text()
    text = text.replace(
        "  - id: kc-kansas\n",
        f"  - id: kc-kansas\n    ring_timeout_seconds: {RING_TIMEOUT_S}\n",
        1,
    )
    centers.write_text(text)
    return folder


@dataclass
class Stack:
    web_url: str
    database_url: str
    sim: Simulator
    log: Path
    processes: list[Any] = field(default_factory=list)


@pytest.fixture
def stack(cluster: SentinelCluster, tmp_path: Path) -> Iterator[Stack]:
    """The Procfile's web and worker on the cluster's Sentinel URL, Twilio simulated."""
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    sim = Simulator(base_url=web_url, auth_token=AUTH_TOKEN, account_sid=ACCOUNT_SID, clock="real")
    env = gateway_env(
        cluster.url,
        migrated_sqlite(tmp_path),
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        PUBLIC_BASE_URL=web_url,
        TWILIO_API_BASE_URL=sim.serve_api(),
        ROUTING_TABLES=str(_tables(tmp_path / "tables")),
        GATEWAY_DRILL="true",
    )
    log = tmp_path / "processes.log"
    started = Stack(web_url, env["DATABASE_URL"], sim, log)
    try:
        started.processes = [run_procfile(name, env, log) for name in ("web", "worker")]
        _wait_until_ready(started)
        yield started
    finally:
        for process in started.processes:
            stop(process)
        sim.close()


def _wait_until_ready(stack: Stack) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{stack.web_url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"web not ready in 60 s:\n{stack.log.read_text(errors='replace')}")


def _register(web_url: str) -> int:
    try:
        response = requests.post(
            f"{web_url}/api/v1/transfers",
            json=ELIGIBLE,
            headers={"Authorization": f"Bearer {PSAP_KEY}"},
            timeout=5,
        )
    except requests.RequestException:
        return 0
    return response.status_code


@dataclass
class Failover:
    """Kills the primary KILL_AT_S into the call, then registers transfers until one is
    accepted; times are seconds since the call began."""

    cluster: SentinelCluster
    web_url: str
    killed_at: float | None = None
    accepted_after_s: float | None = None
    refused: list[int] = field(default_factory=list)

    def run(self, began: float) -> None:
        time.sleep(KILL_AT_S)
        self.cluster.kill_primary()
        killed = time.monotonic()
        self.killed_at = killed - began
        while time.monotonic() - killed < ACCEPTED_AGAIN_WITHIN_S + 15:
            status = _register(self.web_url)
            if status == 201:
                self.accepted_after_s = time.monotonic() - killed
                return
            self.refused.append(status)
            time.sleep(0.25)


def _scenario() -> Any:
    return scenario_from_dict(
        {
            "name": "the primary dies while the Kansas center rings",
            "caller": {
                "from": WYANDOTTE_LINE,
                "to": GATEWAY_NUMBER,
                "actions": [{"at": 1, "press": "66101#"}, {"at": 28, "hangup": True}],
            },
            "lines": [
                {"number": KC_KANSAS, "name": "kc-kansas", "outcome": "no-answer"},
                {
                    "number": KS_STATEWIDE,
                    "name": "ks-statewide",
                    "answer": 2,
                    # answering machine detection takes 2 s, then the whisper
                    "actions": [{"at": 5, "press": "1"}, {"at": 10, "hangup": True}],
                },
            ],
            "app": {
                "voice_url": "/voice",
                "fallback_url": "/voice/fallback",
                "status_callback": "/voice/status",
            },
        }
    )


def _stored_event_kinds(database_url: str, seconds: float) -> list[str]:
    """The event kinds the worker has written, once an `ended` is among them."""
    engine = create_store_engine(database_url)
    deadline, kinds = time.monotonic() + seconds, []
    try:
        while time.monotonic() < deadline:
            with Session(engine) as session:
                kinds = list(session.scalars(select(TransferEvent.kind)))
            if "ended" in kinds:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    return kinds


def test_a_call_ringing_a_center_survives_the_primary_being_killed(
    cluster: SentinelCluster, stack: Stack
) -> None:
    failover = Failover(cluster, stack.web_url)
    began = time.monotonic()
    killer = threading.Thread(target=failover.run, args=(began,), daemon=True)
    killer.start()
    timeline = stack.sim.run(_scenario())
    killer.join(ACCEPTED_AGAIN_WITHIN_S + 20)
    report = f"{timeline.render()}\n{stack.log.read_text(errors='replace')[-4000:]}"

    # The primary died while the Kansas center was ringing.
    [ringing] = timeline.party_legs("kc-kansas")
    assert failover.killed_at is not None
    assert ringing.created_at < failover.killed_at < (ringing.ended_at or 1e9), report
    # The caller was never stranded: with a counselor, or back with 911.
    assert_caller_never_dropped(timeline)
    with_911 = any(re.search(r"stays on the line", text) for text in said(timeline, "caller"))
    assert timeline.connected("caller", "ks-statewide") or with_911, report
    # New transfers were accepted again within 30 s of the kill.
    assert failover.accepted_after_s is not None, (failover.refused, report)
    assert failover.accepted_after_s <= ACCEPTED_AGAIN_WITHIN_S, failover.refused
    # The worker followed too: the call's end reached the store through the new primary.
    assert "ended" in _stored_event_kinds(stack.database_url, 30), report
