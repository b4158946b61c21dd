"""The `simulate` subcommand."""

from __future__ import annotations

import argparse
import json

import pytest

from carrier_sim.cli import register_cli
from tests.carrier_sim.apps import AUTH_TOKEN


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    status: int = args.handler(args)
    return status


def test_simulate_prints_the_timeline_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    status = _run(
        "simulate",
        "scenarios/sim-happy-path.yaml",
        "--json",
        "--app",
        "tests.carrier_sim.apps:cli_app",
        "--auth-token",
        AUTH_TOKEN,
    )

    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parties"]["caller"]["talked_to"][0]["party"] == "center-a"


def test_simulate_without_an_app_or_url_starts_the_gateway_in_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    status = _run("simulate", "scenarios/gateway-happy-path.yaml", "--json")

    assert status == 0
    parties = json.loads(capsys.readouterr().out)["parties"]
    assert parties["caller"]["talked_to"][0]["party"] == "kc-kansas"


def test_simulate_against_a_running_gateway_needs_its_auth_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    status = _run("simulate", "scenarios/gateway-happy-path.yaml", "--url", "http://127.0.0.1:9")

    assert status == 2
    assert "--auth-token" in capsys.readouterr().err


def test_simulate_with_calls_prints_a_load_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status = _run(
        "simulate",
        "scenarios/sim-happy-path.yaml",
        "--app",
        "tests.carrier_sim.apps:cli_app",
        "--auth-token",
        AUTH_TOKEN,
        "--calls",
        "2",
        "--stagger",
        "1",
    )

    assert status == 0
    out = capsys.readouterr().out
    assert out.startswith("2 calls, ")
    assert "simulator: " in out


def test_simulate_refuses_a_negative_number_of_calls(capsys: pytest.CaptureFixture[str]) -> None:
    status = _run(
        "simulate", "scenarios/sim-happy-path.yaml", "--auth-token", AUTH_TOKEN, "--calls", "-1"
    )

    assert status == 2
    assert "--calls" in capsys.readouterr().err
