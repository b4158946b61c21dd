"""What the app factory builds once and every request uses: the service and its checks."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from twilio.request_validator import RequestValidator

from gateway.services.escalation import Escalations
from gateway.services.transfers import TransferService
from gateway.settings import FlowConfig

EXTENSION = "gateway988"


@dataclass(frozen=True)
class Gateway:
    """The collaborators of one app, kept in `app.extensions`.

    Attributes:
        service: the transfer service.
        validator: checks X-Twilio-Signature with the account's auth token.
        flow: call-flow settings (API keys).
        escalations: the bounce-back to 911.
    """

    service: TransferService
    validator: RequestValidator
    flow: FlowConfig
    escalations: Escalations


def gateway() -> Gateway:
    """The current app's Gateway."""
    found = current_app.extensions[EXTENSION]
    assert isinstance(found, Gateway)
    return found
