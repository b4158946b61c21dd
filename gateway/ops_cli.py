"""Operations commands: `gateway check` and `gateway fallback-twiml`.

gateway check                 # settings, keys, tables, Redis, the store: every problem
gateway check --config-only   # what a process checks at start (no Redis, no store)
gateway fallback-twiml        # a static TwiML document for Twilio's fallback URL
"""

from __future__ import annotations

import argparse
import os
import sys

from twilio.twiml.voice_response import VoiceResponse

from gateway import checks
from gateway.settings import Settings, read_noting_problems

# Twilio ends a call after 4 hours unless told otherwise; holding the leg that long means
# the gateway never ends it: 911 does.
HOLD_S = 4 * 60 * 60
FALLBACK_MESSAGE = (
    "The 9 8 8 transfer service is not available right now. The caller was not transferred. "
    "9 1 1 stays on the line with the caller. You may hang up this line when ready."
)


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `check` and `fallback-twiml` to the `gateway` command."""
    check = subparsers.add_parser(
        "check", help="list every configuration problem at once; exit 1 on any error"
    )
    check.add_argument(
        "--config-only",
        action="store_true",
        help="settings, keys and tables only (what a process checks at start)",
    )
    check.set_defaults(handler=cmd_check)
    fallback = subparsers.add_parser(
        "fallback-twiml", help="print a static TwiML document for Twilio's fallback URL"
    )
    fallback.set_defaults(handler=cmd_fallback_twiml)


def cmd_check(args: argparse.Namespace) -> int:
    problems = checks.configuration_problems(os.environ)
    if not args.config_only:
        settings, _ = read_noting_problems(lambda: Settings.from_env(os.environ))
        problems += checks.service_problems(settings)
    errors = checks.report(problems, sys.stdout)
    return 1 if errors else 0


def fallback_twiml() -> VoiceResponse:
    """Keeps the leg up, silent after one message, until 911 hangs it up.

    Static: hosted away from the gateway (a TwiML bin, a static web server), it must hold
    no URL of the gateway and no per-call name. So no conference room (every call would
    share one), only a long pause: the leg never runs out of TwiML, which would hang it up.
    """
    response = VoiceResponse()
    response.say(FALLBACK_MESSAGE)
    response.pause(length=HOLD_S)
    return response


def cmd_fallback_twiml(args: argparse.Namespace) -> int:
    del args  # no options
    print(fallback_twiml())
    return 0
