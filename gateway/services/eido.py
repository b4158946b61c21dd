"""Who sees what of a transfer's EIDO document: the PSAP everything it gave, the center
that accepted the caller what its partnership shares (`share_with_center` in
partnerships.yaml); the document itself is built by `gateway.domain.eido`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gateway.domain.eido import Agency, Place, disclosed, eido_document
from gateway.domain.transfer import Transfer
from gateway.services.dialing import Calls
from routing.model import CenterShare, LocationPrecision

# The PSAP sees all it gave the gateway: it is its own caller.
PSAP_SHARE = CenterShare(callback_number=True, summary=True, location=LocationPrecision.EXACT)


def psap_eido(calls: Calls, transfer: Transfer) -> dict[str, Any]:
    """The document as the PSAP that registered the transfer reads it."""
    return _document(calls, transfer, PSAP_SHARE)


def center_eido(calls: Calls, transfer: Transfer, center_id: str) -> dict[str, Any]:
    """The document as the center that accepted the caller reads it (the caller must be
    with `center_id`: the view checks `transfer.accepted_by` first)."""
    partnership = calls.router.tables.partnerships.get((transfer.psap_id or "", center_id))
    # A backup reached by rollover may have no partnership of its own: it gets the least.
    share = partnership.shares if partnership is not None else CenterShare()
    return _document(calls, transfer, share)


def _document(calls: Calls, transfer: Transfer, share: CenterShare) -> dict[str, Any]:
    shown = disclosed(
        transfer,
        share,
        calls.unseal(transfer.callback_sealed),
        calls.unseal(transfer.summary_sealed),
        Place.from_json(calls.unseal(transfer.place_sealed)),
    )
    issuer = urlsplit(calls.links.base).hostname or "localhost"
    psap, center = _agencies(calls, transfer)
    return eido_document(transfer, psap, center, shown, issuer, calls.now())


def _agencies(calls: Calls, transfer: Transfer) -> tuple[Agency, Agency | None]:
    """The PSAP, and the center that has the caller (else the one being rung, else the
    first routed to)."""
    tables = calls.router.tables
    psap_id = transfer.psap_id or "unknown-psap"
    known = tables.psaps.get(psap_id)
    psap = Agency(psap_id, known.name if known else "911 PSAP", "psap")
    attempt = transfer.accepted() or transfer.attempt(transfer.current)
    center_id = attempt.center_id if attempt else next(iter(transfer.dial_plan), None)
    if center_id is None:
        return psap, None
    center = tables.centers.get(center_id)
    return psap, Agency(center_id, center.name if center else center_id, "center")
