"""Every process follows the active table version live, without a restart.

The unit tests drive one TableFollower by hand; the last test runs a real gunicorn with two
workers and publishes, rolls back and restarts under it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text

from gateway.adapters.store.db import create_store_engine
from gateway.tables.follow import TableFollower
from gateway.tables.service import TableVersions
from routing.counties import CountyLayer
from routing.engine import Router, Snapshot
from routing.index import CountyIndex
from routing.location import LocationQuery
from routing.tables import DEFAULT_TABLES_DIR, load_tables
from tests.routing.test_tables import edit

ROOT = Path(__file__).resolve().parents[2]
PSAP_KEY = "follow-test-psap-key-0123456789"
WYANDOTTE = LocationQuery(psap_id="wyandotte-911")


@pytest.fixture
def router(county_layer: CountyLayer, county_index: CountyIndex) -> Router:
    return Router(
        Snapshot(county_layer, county_index, load_tables(DEFAULT_TABLES_DIR, county_layer))
    )


def renamed(tables: Path) -> Path:
    edit(tables / "centers.yaml", "Sample KC Kansas Crisis Line", "Renamed KC Line")
    return tables


def test_a_publish_is_followed_and_routing_carries_its_version_id(
    versions: TableVersions, router: Router, tables: Path
) -> None:
    first = versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")
    follower = TableFollower(router, versions)
    assert not follower.check()  # already on it
    loaded_first = router.tables

    second = versions.publish_folder(renamed(tables), "bob", "rename")
    assert follower.check()

    decision = router.route(WYANDOTTE)
    assert (decision.tables_version, decision.center_name) == (second, "Renamed KC Line")
    versions.activate(first, "carol", "back")
    assert follower.check()
    assert router.route(WYANDOTTE).tables_version == first
    assert router.tables is loaded_first  # kept loaded: a rollback is a swap, not a reload


def test_a_version_that_cannot_be_loaded_leaves_the_one_in_use(
    versions: TableVersions, engine: Engine, router: Router, tables: Path
) -> None:
    first = versions.publish_folder(DEFAULT_TABLES_DIR, "alice", "first set")
    second = versions.publish_folder(renamed(tables), "bob", "rename")
    with engine.begin() as connection:  # damaged in the database after it was validated
        connection.execute(
            text("UPDATE table_version_files SET content = :bad WHERE version_id = :v"),
            {"bad": b"centers: [", "v": second},
        )
    follower = TableFollower(router, versions)

    assert not follower.check()
    assert not follower.check()  # not retried at once

    assert router.route(WYANDOTTE).tables_version == first


def test_a_store_that_is_down_leaves_the_version_in_use(
    router: Router, county_layer: CountyLayer
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = create_store_engine(f"postgresql://nobody@127.0.0.1:{port}/none")
    before = router.tables

    assert not TableFollower(router, TableVersions(down, county_layer)).check()
    assert router.tables is before


# -- every web process of a real gunicorn ------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def web(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """gunicorn with two workers on a store and a ROUTING_TABLES folder of the test's own."""
    port, tables = free_port(), tmp_path / "routing-tables"
    import shutil

    shutil.copytree(DEFAULT_TABLES_DIR, tables)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "ROUTING_TABLES": str(tables),
        "REDIS_URL": redis_url,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "PSAP_API_KEYS": f"wyandotte-911:{PSAP_KEY}",
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "PYTHONPATH": str(ROOT),
    }
    command = [str(Path(sys.executable).with_name("gunicorn")), "--config"]
    command += ["python:gateway.serving", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    command += ["gateway.app:create_app()"]
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    try:
        yield f"http://127.0.0.1:{port}", server, tmp_path / "store.sqlite3"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def answered_version(base: str) -> str | None:
    try:
        answer = requests.post(
            f"{base}/api/v1/route",
            json={"zip": "66101"},
            headers={"Authorization": f"Bearer {PSAP_KEY}"},
            timeout=10,
        )
    except (requests.ConnectionError, requests.Timeout):
        return None  # still booting (the workers load the county layer first)
    assert answer.status_code == 200, answer.text
    version: str = answer.json()["tables_version"]
    return version


def every_answer_carries(base: str, version: str, within_s: float = 30.0) -> bool:
    """Wait until 20 answers in a row (on fresh connections, so both workers) carry `version`."""
    deadline, streak = time.monotonic() + within_s, 0
    while time.monotonic() < deadline and streak < 20:
        streak = streak + 1 if answered_version(base) == version else 0
        if streak == 0:
            time.sleep(0.1)
    return streak >= 20


def test_every_web_worker_follows_a_publish_and_a_rollback_and_a_hup_keeps_the_last_good(
    web: tuple[str, subprocess.Popen[bytes], Path], county_layer: CountyLayer, tmp_path: Path
) -> None:
    base, server, store = web
    first = load_tables(DEFAULT_TABLES_DIR, county_layer).version
    assert every_answer_carries(base, first)  # imported as the first version at start
    engine = create_store_engine(f"sqlite:///{store}")
    versions = TableVersions(engine, county_layer)
    changed = tmp_path / "changed"
    import shutil

    shutil.copytree(DEFAULT_TABLES_DIR, changed)
    second = versions.publish_folder(renamed(changed), "bob", "rename")

    assert every_answer_carries(base, second)
    versions.activate(first, "carol", "back")
    assert every_answer_carries(base, first)

    # A broken ROUTING_TABLES on disk and a HUP: the workers restart from the store.
    edit(tmp_path / "routing-tables" / "centers.yaml", '"+19135550102"', '"+1913555"')
    server.send_signal(signal.SIGHUP)
    time.sleep(2)
    assert server.poll() is None
    assert every_answer_carries(base, first)
    engine.dispose()
