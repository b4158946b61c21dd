"""How a call's TwiML program is steered: where it goes next, and what interrupts it."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

from carrier_sim.model import Wait, Wake
from carrier_sim.twiml import VERBS
from carrier_sim.webhooks import HttpResult

Step = Generator[Wait, Wake, "Target | None"]
DialStep = Generator[Wait, Wake, dict[str, str]]
FetchStep = Generator[Wait, Wake, HttpResult]


class Interrupt(Exception):
    """Thrown into a call's program when something outside it changes its course."""


class HungUp(Interrupt):
    """The call ended while its program was waiting."""


class Redirected(Interrupt):
    """The REST API gave the call new TwiML."""

    def __init__(self, target: Target) -> None:
        super().__init__("redirected")
        self.target = target


@dataclass
class Target:
    """Where a program continues: a URL to fetch, or a TwiML document given inline."""

    url: str | None = None
    method: str = "POST"
    extra: dict[str, str] = field(default_factory=dict)
    twiml: str | None = None
    allowed: frozenset[str] = VERBS
