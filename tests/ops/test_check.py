"""`gateway check` lists every problem at once; the Procfile's processes refuse to start on
configuration errors with the same lines, and start anyway without Redis or the store."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import requests

from gateway.checks import EXIT_CONFIG, configuration_problems
from gateway.cli import main
from gateway.settings import DEFAULT_TABLES_DIR, Settings, SettingsError
from tests.ops.apps import DOWN_REDIS_URL, migrated_sqlite
from tests.ops.processes import gateway_env, run_procfile, stop, web_process

BAD = {
    "RETENTION_DAYS": "soon",
    "PENDING_WINDOW_S": "5",
    "REDIS_URL": "localhost:6379",
    "PSAP_API_KEYS": "wyandotte-911:short",
}
BAD_LINES = [
    "error: settings: REDIS_URL='localhost:6379': must start with redis or rediss or unix or redis+sentinel://",
    "error: settings: RETENTION_DAYS='soon': not a whole number",
    "error: settings: PENDING_WINDOW_S='5': seconds from 30 to 3600",
    "error: settings: PSAP_API_KEYS: wyandotte-911: the key is shorter than 16 characters",
    "error: settings: TWILIO_AUTH_TOKEN is required",
]


def test_the_settings_loader_names_every_bad_value_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(BAD)
    assert raised.value.problems == [
        line.removeprefix("error: settings: ") for line in BAD_LINES[:4]
    ]


def _isolated(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith(
            (
                "TWILIO_",
                "REDIS_",
                "DATABASE_",
                "PSAP_",
                "CENTER_",
                "ROUTING_",
                "ENCRYPTION_",
                "DROP_",
            )
        ):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_check_lists_settings_tables_redis_and_store_problems_together(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tables = tmp_path / "tables"
    shutil.copytree(DEFAULT_TABLES_DIR, tables)
    psaps = tables / "psaps.yaml"
    psaps.write_text(psaps.read_text().replace("wyandotte-911", "wyandotte 911!", 1))
    _isolated(
        monkeypatch,
        {
            "RETENTION_DAYS": "0",
            "ROUTING_TABLES": str(tables),
            "REDIS_URL": DOWN_REDIS_URL,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        },
    )
    assert main(["check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "error: settings: RETENTION_DAYS=0: must be between 1 and 3650" in out
    assert "error: settings: TWILIO_ACCOUNT_SID is required" in out
    assert any(line.startswith(f"error: tables: {tables}: ") for line in out)
    assert "error: tables: no usable routing-table version" in out
    assert "error: redis: redis://127.0.0.1:1/0 unreachable (ConnectionError)" in out
    assert any(
        line.startswith("error: store: sqlite:///") and "not migrated" in line for line in out
    )
    assert out[-1].endswith("warning(s)")


def test_a_key_for_a_psap_no_longer_in_the_tables_is_a_warning_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    redis_url: str,
) -> None:
    env = gateway_env(redis_url, migrated_sqlite(tmp_path))
    env["PSAP_API_KEYS"] += ",closed-911:closed-psap-key-0123456789"
    _isolated(monkeypatch, env)
    assert main(["check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "warning: keys: PSAP_API_KEYS: closed-911 is not in the routing tables; its key is refused",
        "0 error(s), 1 warning(s)",
    ]


def test_check_config_only_leaves_redis_and_the_store_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _isolated(monkeypatch, gateway_env(DOWN_REDIS_URL, f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    assert main(["check", "--config-only"]) == 0
    assert capsys.readouterr().out == "0 error(s), 0 warning(s)\n"


@pytest.mark.parametrize("process", ["web", "worker"])
def test_a_procfile_process_refuses_to_start_listing_every_configuration_error(
    process: str, tmp_path: Path
) -> None:
    env = {**gateway_env(DOWN_REDIS_URL, "sqlite:///unused.sqlite3"), **BAD}
    del env["TWILIO_AUTH_TOKEN"]
    log = tmp_path / "out.log"
    started = run_procfile(process, env, log)
    try:
        assert started.wait(timeout=60) == EXIT_CONFIG
    finally:
        if started.poll() is None:
            started.kill()
    lines = log.read_text().splitlines()
    for line in BAD_LINES:
        assert line in lines
    assert f"gateway {process}: not started: configuration errors above" in lines


def test_web_starts_without_redis_or_its_store_and_says_it_is_not_ready(
    tmp_path: Path,
) -> None:
    # A reachable but unmigrated store is migrated as the web process starts (it reads the
    # active table version there), so the store here is one that does not answer at all.
    env = gateway_env(DOWN_REDIS_URL, "postgresql://postgres@127.0.0.1:1/none")
    with web_process(env, tmp_path / "web.log", workers=1) as url:
        ready = requests.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["missing"][:2] == [
            "redis unreachable",
            "store unreachable",
        ]
        # Each request is one JSON line on stderr.
    lines = [
        json.loads(line)
        for line in (tmp_path / "web.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(line.get("route") == "/readyz" and line.get("status") == 503 for line in lines)


def test_the_worker_waits_for_redis_instead_of_exiting(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    worker = run_procfile("worker", gateway_env(DOWN_REDIS_URL, "sqlite:///unused.sqlite3"), log)
    try:
        deadline = time.monotonic() + 30
        while "waiting for Redis" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert worker.poll() is None
    finally:
        stop(worker)
    waits = [json.loads(line) for line in log.read_text().splitlines() if "waiting" in line]
    assert waits and waits[0]["error"] == "ConnectionError"


SEALING_ERROR = (
    "error: settings: ENCRYPTION_KEY is required with PSAP_API_KEYS: the 911 summary, callback "
    "number and location are kept only sealed under it (or set DROP_CALLER_DETAILS=1 to run "
    "without them)"
)


def test_psap_keys_without_an_encryption_key_are_a_configuration_error(tmp_path: Path) -> None:
    env = gateway_env(DOWN_REDIS_URL, "sqlite:///unused.sqlite3")
    del env["ENCRYPTION_KEY"]

    problems = [str(p) for p in configuration_problems(env)]

    assert SEALING_ERROR in problems


def test_the_operator_may_run_without_caller_details_by_saying_so() -> None:
    env = gateway_env(DOWN_REDIS_URL, "sqlite:///unused.sqlite3", DROP_CALLER_DETAILS="1")
    del env["ENCRYPTION_KEY"]

    assert [str(p) for p in configuration_problems(env)] == []
    assert Settings.from_env(env).drop_caller_details is True


def test_dropping_caller_details_with_a_key_set_is_pointed_out() -> None:
    env = gateway_env(DOWN_REDIS_URL, "sqlite:///unused.sqlite3", DROP_CALLER_DETAILS="1")

    assert [str(p) for p in configuration_problems(env)] == [
        "warning: settings: DROP_CALLER_DETAILS has no effect: ENCRYPTION_KEY is set"
    ]


def test_the_web_process_refuses_to_start_with_psap_keys_and_no_encryption_key(
    tmp_path: Path,
) -> None:
    env = gateway_env(DOWN_REDIS_URL, "sqlite:///unused.sqlite3")
    del env["ENCRYPTION_KEY"]
    process = run_procfile("web", env, tmp_path / "web.log")
    try:
        assert process.wait(timeout=60) == EXIT_CONFIG
    finally:
        stop(process)
    assert SEALING_ERROR in (tmp_path / "web.log").read_text().splitlines()
