"""`gateway simulate SCENARIO.yaml`: play a scenario and print its timeline.

The lead wires `register_cli` into the `gateway` command:

    subparsers = parser.add_subparsers(dest="command")
    register_cli(subparsers)
    args = parser.parse_args()
    return args.handler(args)
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import sys
from collections.abc import Callable
from typing import Any

from carrier_sim.load import report
from carrier_sim.scenario import ScenarioError, load_scenario
from carrier_sim.simulator import Simulator

AppFactory = Callable[[Simulator], Callable[..., Any]]


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `simulate` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser(
        "simulate",
        help="play a scenario against the gateway on a simulated Twilio",
        description="Play a scenario file against the gateway and print the timeline.",
    )
    parser.add_argument("scenario", help="a scenario YAML file (see docs/simulator.md)")
    parser.add_argument("--json", action="store_true", help="print the timeline as JSON")
    parser.add_argument("--url", help="base URL of a running gateway (default: in process)")
    parser.add_argument(
        "--app", help="in process: module:factory; factory(simulator) returns the WSGI app"
    )
    parser.add_argument("--realtime", action="store_true", help="run on the real clock")
    parser.add_argument(
        "--api-port",
        type=int,
        default=0,
        help="with --url: port for the simulated REST API (default: any free)",
    )
    parser.add_argument(
        "--auth-token", default=None, help="signing token (default: $TWILIO_AUTH_TOKEN)"
    )
    parser.add_argument(
        "--calls",
        type=int,
        default=0,
        help="load mode: play this many copies of the scenario's call at once and print "
        "webhook response times and the simulator's own overhead (see docs/simulator.md)",
    )
    parser.add_argument(
        "--stagger",
        type=float,
        default=0.0,
        help="with --calls: seconds between one call's arrival and the next (default 0)",
    )
    parser.set_defaults(handler=run_command)


# With neither --url nor --app, the gateway itself is started in process (its settings,
# Redis included, from the environment).
DEFAULT_APP = "gateway.app:simulator_app"


def run_command(args: argparse.Namespace) -> int:
    """Run the `simulate` subcommand; returns the process exit status."""
    token = args.auth_token or os.environ.get("TWILIO_AUTH_TOKEN")
    if not token and args.url:
        # A running gateway checks signatures with its own token: we must sign with it.
        print("simulate: give --auth-token or set TWILIO_AUTH_TOKEN", file=sys.stderr)
        return 2
    # In process, both sides are ours: any token will do.
    token = token or secrets.token_hex(16)
    try:
        scenario = load_scenario(args.scenario)
    except (OSError, ScenarioError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    if args.calls < 0 or args.stagger < 0:
        print("simulate: --calls and --stagger must not be negative", file=sys.stderr)
        return 2
    clock = "real" if args.realtime or (args.calls and args.url) else "virtual"
    if args.url:
        sim = Simulator(base_url=args.url, auth_token=token, clock=clock)
        api = sim.serve_api(port=args.api_port)
        print(f"simulated Twilio REST API at {api} (TWILIO_API_BASE_URL)", file=sys.stderr)
    else:
        sim = _in_process(args.app or DEFAULT_APP, token, clock)
    with sim:
        if args.calls:
            run = sim.run_many(scenario, args.calls, args.stagger)
            print(run.timeline.to_json() if args.json else report(run))
            return 0
        timeline = sim.run(scenario)
    print(timeline.to_json() if args.json else timeline.render())
    return 0


def _in_process(spec: str, token: str, clock: str) -> Simulator:
    """Build the simulator around an app created by `module:factory`."""
    module_name, _, name = spec.partition(":")
    factory: AppFactory = getattr(importlib.import_module(module_name), name)
    holder: dict[str, Callable[..., Any]] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # The app needs the simulator's client and the simulator needs the app.
        return holder["app"](environ, start_response)

    sim = Simulator(app=app, auth_token=token, clock=clock)
    holder["app"] = factory(sim)
    return sim
