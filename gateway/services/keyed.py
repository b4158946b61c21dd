"""Transfers nobody registered through the API: the call-taker keys them on the call.

A call that reaches the gateway's number without a registered transfer hears a menu; the
call-taker keys a transfer code, a ZIP code, or # for their own area, optionally followed
by * and the caller's 10-digit number ("66101*8165550123#"). A code claims the registered
transfer; a ZIP or # routes a new one and claims it for this call at once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from twilio.twiml.voice_response import VoiceResponse

from gateway.adapters import twiml
from gateway.domain.events import EventKind
from gateway.domain.transfer import may_claim, new_transfer, new_transfer_id
from gateway.services.intake import (
    agreement_refusal,
    keyed_callback,
    place_json,
    spoken_location,
)
from routing.areacode import parse_e164
from routing.errors import RoutingError
from routing.location import Civic, LocationQuery

if TYPE_CHECKING:
    from gateway.services.transfers import TransferService

log = logging.getLogger(__name__)

# What the call-taker hears when the call may key no more transfer codes.
CODE_REFUSALS = {
    "too-many-codes": "Three transfer codes were not found. This call cannot be "
    f"transferred to 9 8 8. {twiml.STAY_WITH_911}",
    "codes-rate-limited": "Too many transfer codes were not found from this line. "
    f"Please wait 15 minutes, or register the transfer again. {twiml.STAY_WITH_911}",
}


class KeyedTransfers:
    """The call-taker's menu on a call with no registered transfer."""

    def __init__(self, service: TransferService) -> None:
        self.service = service

    def remember_callback(self, form: Mapping[str, str]) -> None:
        """Keep the SIP header X-Callback-Number for a transfer the call-taker may key.

        A PSAP's call-handling equipment knows the caller's number when it conferences them
        to the gateway; with no transfer registered through the API, this header is the
        only way the escalation whisper can read it back to 911. A number that is not E.164
        is ignored (and not logged: it is personal data).
        """
        number = form.get("SipHeader_X-Callback-Number", "").strip()
        if not number:
            return
        try:
            parse_e164(number)
        except RoutingError:
            log.warning("ignored an X-Callback-Number that is not an E.164 number")
            return
        sealed = self.service.seal(number)
        if sealed:  # without ENCRYPTION_KEY it is not kept at all
            window = self.service.flow.pending_window_s
            self.service.store.remember_callback(form["CallSid"], sealed, window)

    def menu(self, form: Mapping[str, str], tries: int) -> VoiceResponse:
        """What the call-taker keyed: a transfer code, a ZIP code, or # for their area.

        After a ZIP code (or before # alone), star and the caller's 10-digit number give
        the callback number 911 hears if the counselor escalates: "66101*8165550123#".
        """
        links = self.service.links
        keyed, psap_id = form.get("Digits", ""), self.service.psap_for_number(form.get("From", ""))
        digits, star, number = keyed.partition("*")
        own_area = not digits and form.get("FinishedOnKey") == "#"
        if len(digits) == 6 and not star:
            return self._by_code(digits, psap_id, form, tries)
        if psap_id is None and (len(digits) == 5 or own_area):
            text = "This number is not a registered 9 1 1 center. Enter a transfer code."
            return twiml.menu(links, tries, text)
        if not (len(digits) == 5 or own_area):
            prefix = "That entry was not understood." if keyed else "No entry was received."
            return twiml.menu(links, tries, prefix)
        callback = keyed_callback(number) if star else None
        if star and callback is None:
            return twiml.menu(links, tries, "That callback number was not understood.")
        civic = Civic(postal_code=digits) if digits else None
        origin = "zip" if digits else "psap-area"
        return self._route(civic, origin, psap_id, form, tries, callback)

    def _by_code(
        self, code: str, psap_id: str | None, form: Mapping[str, str], tries: int
    ) -> VoiceResponse:
        """Claim the transfer the code names; wrong codes are counted (`CodeTries`), and
        past the limit the call keys no more codes: 911 keeps the caller, and hears why."""
        service, call_sid, number = self.service, form["CallSid"], form.get("From", "")
        refusal = service.code_tries.refusal(call_sid, number)
        if refusal is None:
            transfer_id = service.store.by_code(code)
            transfer = service.store.get(transfer_id) if transfer_id else None
            # A code keyed from another PSAP's line is not theirs to use.
            if transfer is not None and may_claim(transfer, psap_id):
                found = service.connect(transfer.id, call_sid)
                if found is not None:
                    return found
            refusal = service.code_tries.count_wrong(call_sid, number)
        if refusal is None:
            return twiml.menu(service.links, tries, "That code was not found.")
        self._record_refusal(call_sid, psap_id, refusal)
        return twiml.stays_with_911(CODE_REFUSALS[refusal], f"held-{call_sid}", service.links)

    def _record_refusal(self, call_sid: str, psap_id: str | None, reason: str) -> None:
        """A refused call is recorded as a request declined for `reason`, under an id
        derived from the call (a repeated webhook records it once)."""
        transfer_id = "tr_" + hashlib.sha256(call_sid.encode()).hexdigest()[:16]
        log.warning("code entry refused on %s (%s)", transfer_id, reason)
        emit = self.service.emit
        emit(
            transfer_id,
            EventKind.REQUESTED,
            f"{transfer_id}:requested",
            origin="code",
            psap_id=psap_id,
        )
        emit(transfer_id, EventKind.DECLINED_AT_TRIAGE, f"{transfer_id}:declined", reason=reason)

    def _route(
        self,
        civic: Civic | None,
        origin: str,
        psap_id: str | None,
        form: Mapping[str, str],
        tries: int,
        keyed_number: str | None,
    ) -> VoiceResponse:
        """Route by the keyed ZIP or the PSAP's area, and claim the transfer for this call.

        The callback number the call-taker keyed wins over the one their equipment sent.
        """
        assert psap_id is not None
        service, links = self.service, self.service.links
        callback = keyed_number or service.unseal(service.store.callback_for(form["CallSid"]))
        query = LocationQuery(civic=civic, psap_id=psap_id, caller=callback or None)
        try:
            decision = service.decide(query)
        except RoutingError:
            return twiml.menu(links, tries, "That ZIP code was not found.")
        transfer = new_transfer(new_transfer_id(), origin, psap_id, decision, service.now())
        # For the escalation whisper only, as for API transfers (see domain/transfer.py).
        transfer.callback_sealed = service.seal(callback)
        transfer.location_sealed = service.seal(spoken_location(None, civic))
        transfer.place_sealed = service.seal(place_json(None, civic))
        key = f"{transfer.id}:requested"
        service.emit(transfer.id, EventKind.REQUESTED, key, origin=origin, psap_id=psap_id)
        centers = (decision.center_id, decision.located_center_id)
        refusal = agreement_refusal(service.router.tables, psap_id, centers)
        if refusal is not None:
            service.declined(transfer.id, refusal)
            name = service.router.tables.centers[decision.center_id].name
            text = f"There is no transfer agreement with {name}. 9 1 1 keeps the call."
            return twiml.menu(links, tries, text)
        # Not findable by the PSAP's other calls: between this and connect() a second call
        # from the same PSAP would otherwise take it as "the PSAP's only pending transfer".
        service.store.create(transfer, service.flow.pending_window_s, findable=False)
        service.emit_routed(transfer, decision)
        return service.connect(transfer.id, form["CallSid"]) or twiml.menu(links, tries)
