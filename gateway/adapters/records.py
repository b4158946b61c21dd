"""The transfer record: what the outcome store keeps about a transfer besides its events.

Events carry nothing personal. The record carries the caller's number as a keyed hash (to
link repeat callers) and, only when ENCRYPTION_KEY is set, encrypted copies of the number,
the 911 summary and rounded coordinates for the data-sharing partner. All of that is
protected here, in the web process (gateway.adapters.store.privacy.protect_transfer), before the
record is queued, so neither Redis nor the job arguments ever hold the clear values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rq import Queue

from gateway.adapters.queueing import enqueue_transfer
from gateway.adapters.store.privacy import TransferRecord, protect_transfer
from gateway.services.intake import TransferRequest
from gateway.settings import Settings
from routing.engine import Decision
from routing.location import Point

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredTransfer:
    """A transfer the call flow has just registered, with the request that asked for it."""

    transfer_id: str
    created_at: datetime
    psap_id: str
    request: TransferRequest
    decision: Decision


class TransferRecorder(Protocol):
    """Where the call flow sends each registered transfer. Must never fail the request."""

    def record(self, transfer: RegisteredTransfer) -> None: ...


def protected_record(settings: Settings, transfer: RegisteredTransfer) -> TransferRecord:
    """The store's record of a transfer, with its personal fields hashed or encrypted."""
    request, decision = transfer.request, transfer.decision
    point = request.geo if isinstance(request.geo, Point) else None
    record = TransferRecord(
        transfer_id=transfer.transfer_id,
        created_at=transfer.created_at,
        psap_id=transfer.psap_id,
        center_id=decision.center_id,
        county_fips=decision.county_fips,
        method=decision.method,
        risk=request.risk.value,
        call_type=request.call_type,
        language=request.language,
    )
    return protect_transfer(
        settings,
        record,
        caller=request.callback_number,
        summary=request.summary or None,
        latitude=point.lat if point else None,
        longitude=point.lon if point else None,
    )


class RQRecorder:
    """Queues each protected record for the store's worker (`gateway.jobs.record_transfer`)."""

    def __init__(self, settings: Settings, queue: Queue) -> None:
        self.settings, self.queue = settings, queue

    def record(self, transfer: RegisteredTransfer) -> None:
        try:
            record = protected_record(self.settings, transfer)
            enqueue_transfer(self.queue, record, self.settings.retention_days)
        except Exception:
            # The transfer goes ahead: its events still reach the store, only the hashed
            # and encrypted personal fields of this one record are missing.
            log.exception("transfer record %s was not queued", transfer.transfer_id)


class MemoryRecorder:
    """Keeps protected records in a list (tests, and the in-process demo)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.records: list[TransferRecord] = []

    def record(self, transfer: RegisteredTransfer) -> None:
        self.records.append(protected_record(self.settings, transfer))
