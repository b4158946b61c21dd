"""The `simulate` subcommand."""

from __future__ import annotations

import argparse
import json

import pytest

from gateway.sim.cli import register_cli
from tests.sim.apps import AUTH_TOKEN


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
        "tests.sim.apps:cli_app",
        "--auth-token",
        AUTH_TOKEN,
    )

    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parties"]["caller"]["talked_to"][0]["party"] == "center-a"


def test_simulate_without_an_app_or_url_explains_what_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = _run("simulate", "scenarios/sim-happy-path.yaml", "--auth-token", AUTH_TOKEN)

    assert status == 2
    assert "--url" in capsys.readouterr().err


def test_simulate_with_calls_prints_a_load_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status = _run(
        "simulate",
        "scenarios/sim-happy-path.yaml",
        "--app",
        "tests.sim.apps:cli_app",
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
