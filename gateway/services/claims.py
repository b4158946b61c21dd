"""Which transfer an inbound call claims: a transfer belongs to the PSAP that registered it.

The call-taker's menu (gateway.services.keyed) handles a call that claims none here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.domain.transfer import TransferStatus, may_claim

if TYPE_CHECKING:
    from gateway.services.transfers import TransferService

log = logging.getLogger(__name__)


class InboundClaims:
    """Finds the transfer an inbound call may claim, by its header or its PSAP's line."""

    def __init__(self, service: TransferService) -> None:
        self.service = service

    def find(self, form: Mapping[str, str]) -> str | None:
        """By the SIP header X-Transfer-Id, else the PSAP's only recent pending transfer.

        A transfer belongs to its PSAP: a call from a PSAP's line may claim only that
        PSAP's transfers. A call from a number the tables do not know (perhaps a PSAP's
        system passing the caller's own number through) needs the transfer's secret: the
        header here, or the code at the menu; never "the only one pending".
        """
        psap_id = self.service.psap_for_number(form.get("From", ""))
        header = form.get("SipHeader_X-Transfer-Id", "").strip()
        if header:
            return self._named(header, psap_id, form.get("CallSid", ""))
        if psap_id is None:
            return None
        recent = self.service.store.pending_for(
            psap_id, self.service.now() - self.service.flow.pending_window_s
        )
        return recent[0] if len(recent) == 1 else None

    def _named(self, transfer_id: str, psap_id: str | None, call_sid: str) -> str | None:
        """The transfer the header names, if this call may claim it (else the menu)."""
        found = self.service.store.get(transfer_id)
        if found is None or not may_claim(found, psap_id):
            if found is not None:
                log.warning("%s's line named %s of %s: refused", psap_id, found.id, found.psap_id)
            return None
        if found.status == TransferStatus.PENDING or found.caller_sid == call_sid:
            return found.id
        return None
