"""The transfer service: a warm transfer from the PSAP's request to the caller leaving.

Views parse Twilio's form or the PSAP's JSON, call one method here, and return what it
gives back. Every change of a transfer goes through `Calls.change` (atomic across
workers); calls out (Twilio REST, events) happen only after the change is saved, so a
repeated or late callback that changes nothing also does nothing.

The flow, in short: the PSAP registers a transfer (`request_transfer`; or keys a code or
ZIP on the call, services/keyed.py); the caller's leg arrives and waits in a conference
(`connect`); the centers of the decision's dial plan are rung one at a time by the dialer
(services/dialing.py, with services/centers.py's plan); a counselor hears a whisper and
presses 1 to join (services/centers.py). Anything else rolls over to the next center,
until the plan or the deadline runs out and 911 keeps the caller. The counselor joining
the caller's room is the hand-off (`conference_event`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property, partial
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from gateway.adapters import twiml
from gateway.adapters.connections import StateUnavailable
from gateway.adapters.live_state import CodeTries
from gateway.adapters.records import RegisteredTransfer
from gateway.domain.events import EventKind
from gateway.domain.transfer import (
    ACTIVE,
    GONE,
    TRANSFER_ID,
    Check,
    Claim,
    EscalationStatus,
    Notes,
    Transfer,
    TransferStatus,
    fail_open,
    move,
    new_transfer,
    new_transfer_id,
)
from gateway.services.centers import CenterLine, Counselors
from gateway.services.claims import InboundClaims
from gateway.services.dialing import FINAL_CALL_STATUSES, Calls, Dialer
from gateway.services.intake import (
    InputError,
    Refusal,
    TransferRequest,
    partnership_refusal,
    place_json,
    spoken_location,
    triage_refusal,
    unknown_zip,
)
from gateway.services.keyed import KeyedTransfers
from gateway.telephony import TelephonyError
from routing.engine import Decision
from routing.errors import RoutingError, UnknownZipError
from routing.location import LocationQuery

log = logging.getLogger(__name__)

# The deadline watchdog runs this long after the deadline: callbacks due by then have come.
DEADLINE_GRACE_S = 15
# A caller still waiting this long after being given back to 911 was not redirected (the
# REST request failed): the wait message loop redirects them again. Sooner, the first
# redirect may still be on its way, and a second one would repeat the message to 911.
REDIRECT_SETTLE_S = 10.0
# Without the live state (Redis out of reach, or restarted empty) the wait message says 988
# was not reached from this long past the deadline its URL carries: the message loops every
# WAIT_LOOP_S at most, so 911 hears it within DEADLINE_GRACE_S of the deadline (issue 11).
BLIND_GRACE_S = DEADLINE_GRACE_S - twiml.WAIT_LOOP_S


@dataclass(frozen=True)
class Created:
    """An eligible request's answer."""

    transfer: Transfer
    decision: Decision
    conference_number: str


class TransferService(Calls):
    """The call flow's operations on the caller's side, on `Calls`' collaborators.

    Its parts: `centers` rings the dial plan, `counselors` answers the counselor's leg,
    `keyed` the call-taker's menu.

    Args:
        code_tries: counts wrong transfer codes per call and per calling number.
        *args, **kwargs: as `Calls`.
    """

    def __init__(self, *args: Any, code_tries: CodeTries, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.code_tries = code_tries

    @cached_property
    def line(self) -> CenterLine:
        return CenterLine(self)

    @cached_property
    def centers(self) -> Dialer:
        return Dialer(self, self.line)

    @cached_property
    def counselors(self) -> Counselors:
        return Counselors(self, self.centers)

    @cached_property
    def keyed(self) -> KeyedTransfers:
        return KeyedTransfers(self)

    @cached_property
    def claims(self) -> InboundClaims:
        return InboundClaims(self)

    # -- the PSAP's API --------------------------------------------------------------

    def request_transfer(self, psap_id: str, request: TransferRequest) -> Created | Refusal:
        """Check a PSAP's request against triage and the decision matrix, then register it.

        Raises:
            InputError: a location the routing core cannot use (e.g. an unknown ZIP).
        """
        transfer_id = new_transfer_id()
        self.emit(
            transfer_id,
            EventKind.REQUESTED,
            f"{transfer_id}:requested",
            origin="api",
            psap_id=psap_id,
            risk=request.risk.value,
            call_type=request.call_type,
            consent=request.consent,
            language=request.language,
            veteran=request.veteran,
        )
        refusal, decision = triage_refusal(request), None
        if refusal is None:
            decision = self._route(request.query(psap_id))
            centers = (decision.center_id, decision.located_center_id)
            refusal = partnership_refusal(self.router.tables, psap_id, centers, request)
        if refusal is not None or decision is None:
            assert refusal is not None
            self.declined(transfer_id, refusal)
            return refusal
        transfer = self._register(transfer_id, psap_id, request, decision)
        return Created(transfer, decision, self.flow.gateway_number)

    def declined(self, transfer_id: str, refusal: Refusal) -> None:
        key = f"{transfer_id}:declined"
        self.emit(transfer_id, EventKind.DECLINED_AT_TRIAGE, key, reason=refusal.reason)

    def decide(self, query: LocationQuery) -> Decision:
        # Hours are judged on the service's clock, as every other time of the transfer.
        return self.router.route(replace(query, at=query.at or self.clock()))

    def _route(self, query: LocationQuery) -> Decision:
        try:
            return self.decide(query)
        except UnknownZipError as exc:
            raise unknown_zip(exc) from None
        except RoutingError as exc:
            raise InputError("unroutable", str(exc), "location") from None

    def _register(
        self, transfer_id: str, psap_id: str, request: TransferRequest, decision: Decision
    ) -> Transfer:
        window = self.flow.pending_window_s
        transfer = new_transfer(transfer_id, "api", psap_id, decision, self.now())
        transfer.risk, transfer.call_type = request.risk.value, request.call_type
        transfer.language, transfer.veteran = request.language, request.veteran
        transfer.consent = request.consent
        # Sealed for the whispers only (see domain/transfer.py), never in an event.
        transfer.summary_sealed = self.seal(request.summary)
        transfer.callback_sealed = self.seal(request.callback_number or "")
        transfer.location_sealed = self.seal(spoken_location(request.geo, request.civic))
        transfer.place_sealed = self.seal(place_json(request.geo, request.civic))
        transfer.code = self.store.reserve_code(transfer_id, window)
        self.store.create(transfer, window)
        self.emit_routed(transfer, decision)
        self._record(RegisteredTransfer(transfer_id, self.clock(), psap_id, request, decision))
        return transfer

    def _record(self, registered: RegisteredTransfer) -> None:
        """Hand the store its record; like events, it must never fail the PSAP's request."""
        if self.recorder is None:
            return
        try:
            self.recorder.record(registered)
        except Exception:
            log.exception("transfer record %s was not recorded", registered.transfer_id)

    def emit_routed(self, transfer: Transfer, decision: Decision) -> None:
        self.emit(
            transfer.id,
            EventKind.ROUTED,
            f"{transfer.id}:routed",
            method=decision.method,
            county_fips=decision.county_fips,
            center_id=decision.center_id,
            located_center_id=decision.located_center_id,
            ambiguous=decision.ambiguous,
            area_code_center_id=decision.area_code_center_id,
            area_code_differs=decision.area_code_differs,
            tables_version=decision.tables_version,
        )

    def route_only(self, psap_id: str, query: LocationQuery) -> Decision:
        """A routing decision with no transfer behind it (POST /api/v1/route)."""
        return self._route(replace(query, psap_id=psap_id))

    def status(self, transfer_id: str, psap_id: str) -> Transfer | None:
        """The transfer, if it exists and belongs to this PSAP."""
        transfer = self.store.get(transfer_id)
        if transfer is None or transfer.psap_id != psap_id:
            return None
        return transfer

    # -- the caller's leg ------------------------------------------------------------

    def inbound(self, form: Mapping[str, str]) -> VoiceResponse:
        """A call reaches the gateway's number: find its transfer, or ask for a code."""
        try:
            transfer_id = self.claims.find(form)
        except StateUnavailable:
            _unavailable_at_arrival(self, form)
            raise
        if transfer_id is None:
            _lost_before_arrival(self, form)
            self.keyed.remember_callback(form)
            return twiml.menu(self.links, 0)
        return self.connect(transfer_id, form["CallSid"]) or twiml.menu(self.links, 0)

    def connect(self, transfer_id: str, call_sid: str) -> VoiceResponse | None:
        """Claim a pending transfer for this call and ring its first center.

        Returns:
            The caller's TwiML, or None when another call already took the transfer.
        """
        done = self.change(transfer_id, lambda t, n: self._claim(t, n, call_sid))
        if done is None or done[1] == Claim.TAKEN:
            return None
        transfer, claim = done
        if claim == Claim.CLAIMED:
            try:
                self.store.forget_pending(transfer)
                self.store.link_call(call_sid, transfer.id)
                transfer = self.centers.dial_from(transfer.id, 0, redirect_caller=False) or transfer
            except StateUnavailable:
                # The claim is saved and a center may be ringing: the caller must be in the
                # room, where a counselor who accepts will still find them.
                log.exception("state lost while dialing %s", transfer.id)
            # If a center's status callback is lost, or the dial above failed, only this
            # check ends the wait (scheduled after the ring, so it never delays it).
            self.after(partial(self.watch, transfer.id, self.deadline_s + DEADLINE_GRACE_S))
        if transfer.status == TransferStatus.RETURNED:
            return self.returned_twiml(transfer.id)
        return twiml.caller_waits(self.links, transfer.id, transfer.room, transfer.deadline_at)

    def _claim(self, transfer: Transfer, notes: Notes, call_sid: str) -> Claim:
        if transfer.status != TransferStatus.PENDING:
            return Claim.AGAIN if transfer.caller_sid == call_sid else Claim.TAKEN
        now = notes.at
        move(transfer, TransferStatus.DIALING)
        transfer.caller_sid = call_sid
        transfer.arrived_at, transfer.deadline_at = now, now + self.deadline_s
        transfer.note(now, "caller_arrived")
        return Claim.CLAIMED

    def returned_twiml(self, transfer_id: str) -> VoiceResponse:
        """What the caller's leg hears when no center could take the caller."""
        return twiml.stays_with_911(
            twiml.NOT_REACHED, f"transfer-{transfer_id}-held", self.links, transfer_id
        )

    def waiting(self, transfer_id: str, deadline_at: int | None) -> VoiceResponse:
        """The waitUrl, fetched again every 13 s or so while the caller waits in the room.

        Besides the message, each fetch is a look at the transfer that needs no worker: a
        transfer still dialing past its deadline (a lost callback, a crash between two
        steps) is moved on as the watchdog job would; a caller given back to 911 whose
        redirect failed is redirected again and hears why meanwhile; and with the state
        out of reach (Redis down), once the deadline in the URL has passed, 911 hears that
        988 was not reached instead of a wait that never ends.
        """
        query, now = twiml.wait_query(transfer_id, deadline_at), self.now()
        overdue = deadline_at is not None and now >= deadline_at + BLIND_GRACE_S
        try:
            transfer = self.store.get(transfer_id) if transfer_id else None
        except StateUnavailable:
            log.warning("state out of reach while %s waits", transfer_id)
            transfer = None
        if transfer is None:
            text = twiml.NOT_REACHED if overdue else twiml.WAIT_MESSAGE
            return twiml.wait_message(self.links, query, text)
        if transfer.status == TransferStatus.RETURNED:
            if now - _returned_at(transfer) >= REDIRECT_SETTLE_S:
                self.after(partial(self.line.redirect_caller, transfer))
            return twiml.wait_message(self.links, query, twiml.NOT_REACHED)
        if self._overdue(transfer, now):
            self.after(partial(self._check_overdue, transfer))
        return twiml.wait_message(self.links, query)

    def _overdue(self, transfer: Transfer, now: float) -> bool:
        due = (transfer.deadline_at or now) + DEADLINE_GRACE_S
        return transfer.status == TransferStatus.DIALING and now >= due

    def _check_overdue(self, transfer: Transfer) -> None:
        try:
            self.check_dialing(transfer)
        except (TelephonyError, StateUnavailable):
            # The next fetch of the waitUrl (or the watchdog job) tries again.
            log.warning("could not check the overdue transfer %s", transfer.id)

    def check_dialing(self, transfer: Transfer) -> Check:
        """The deadline watchdog: once the deadline has passed, move on a transfer still
        dialing (`Dialer.check_leg`); after the deadline the next step gives the caller
        back to 911. Before it, IN_FLIGHT.

        Raises:
            TelephonyError, StateUnavailable: the job fails and RQ retries it.
        """
        if self.now() < (transfer.deadline_at or 0.0) + DEADLINE_GRACE_S:
            return Check.IN_FLIGHT
        return self.centers.check_leg(transfer)

    def caller_done(self, transfer_id: str, form: Mapping[str, str]) -> VoiceResponse:
        """The caller's <Dial> ended: they hung up, or the room ended under them."""
        if form.get("CallStatus") in FINAL_CALL_STATUSES:
            self.caller_gone(transfer_id, form.get("CallSid", ""))
            return twiml.empty()
        transfer = self.store.get(transfer_id)
        if transfer is not None and transfer.status in ACTIVE:
            joined = form.get("DialCallStatus") != "failed"  # else its waitUrl failed
            return twiml.caller_waits(
                self.links, transfer.id, transfer.room, transfer.deadline_at, wait_url=joined
            )
        return self.returned_twiml(transfer_id)

    def held_done(self, transfer_id: str, form: Mapping[str, str]) -> VoiceResponse:
        """The held room's <Dial> ended; a leg still up goes straight back in."""
        if form.get("CallStatus") in FINAL_CALL_STATUSES:
            if transfer_id:
                self.caller_gone(transfer_id, form.get("CallSid", ""))
            return twiml.empty()
        if transfer_id:
            return self.returned_twiml(transfer_id)
        return twiml.fallback(form.get("CallSid", "unknown"), self.links)

    def inbound_status(self, form: Mapping[str, str]) -> None:
        """The gateway number's status callback: the caller's leg ended."""
        if form.get("CallStatus") not in FINAL_CALL_STATUSES:
            return
        transfer_id = self.store.transfer_for_call(form.get("CallSid", ""))
        if transfer_id is not None:
            self.caller_gone(transfer_id, form.get("CallSid", ""))

    def caller_gone(self, transfer_id: str, call_sid: str) -> None:
        """The caller hung up: end the transfer and cancel every leg still ringing."""
        done = self.change(transfer_id, lambda t, n: _caller_left(t, n, call_sid))
        if done is None:
            return
        for sid, answered in done[1]:
            self.after(partial(self.hang_up, sid, answered))

    # -- conference events -----------------------------------------------------------

    def conference_event(self, transfer_id: str, form: Mapping[str, str]) -> None:
        """Join and leave events: hand-off when the counselor joins; the caller leaving."""
        event, sid = form.get("StatusCallbackEvent", ""), form.get("CallSid", "")
        if event == "participant-join":
            self.counselors.joined(transfer_id, sid, form)
        elif event == "participant-leave":
            # A counselor leaving the room was in it: their accept is recorded now if the
            # state missed it (Redis out of reach as they pressed 1 and joined).
            self.counselors.left(transfer_id, sid)
            if form.get("ReasonParticipantLeft") == "participant_hung_up":
                self.caller_gone(transfer_id, sid)


# -- the live state failing as the caller arrives (issue 11) ------------------------------


def _named(form: Mapping[str, str]) -> str:
    """The transfer id the PSAP's equipment sent (SIP header X-Transfer-Id), if well formed."""
    named = form.get("SipHeader_X-Transfer-Id", "").strip()
    return named if TRANSFER_ID.match(named) else ""


def _unavailable_at_arrival(calls: Calls, form: Mapping[str, str]) -> None:
    """Redis did not answer as the caller arrived: the view's fallback keeps the caller with
    911 and says so; the record of the transfer they named says it too."""
    named = _named(form)
    if named:
        key = f"{named}:returned"
        calls.emit(named, EventKind.RETURNED_TO_911, key, reason="state-unavailable")


def _lost_before_arrival(calls: Calls, form: Mapping[str, str]) -> None:
    """A transfer named by the PSAP's equipment but gone from the live state (Redis restarted
    empty): the record cannot say what happens next, and says that."""
    named = _named(form)
    if named and calls.store.get(named) is None:
        key = f"{named}:state-lost:arrival:0"
        calls.emit(named, EventKind.STATE_LOST, key, step="arrival", detail="")


# -- pure changes to a transfer (run inside TransferStore.update) -------------------------


def _returned_at(transfer: Transfer) -> float:
    """When the caller was given back to 911 (0 when the timeline does not say)."""
    kind = EventKind.RETURNED_TO_911.value
    return next((step["at"] for step in transfer.history if step["kind"] == kind), 0.0)


def _caller_left(transfer: Transfer, notes: Notes, call_sid: str) -> list[tuple[str, bool]]:
    """Mark the caller gone; the open legs to cancel, as (call sid, answered)."""
    if not call_sid or transfer.caller_sid != call_sid or transfer.status in GONE:
        return []
    notes.add(EventKind.CALLER_HUNG_UP, "caller-left", while_status=transfer.status.value)
    legs: list[tuple[str, bool]] = []
    if transfer.status == TransferStatus.DIALING:
        move(transfer, TransferStatus.ABANDONED)
        transfer.outcome = "abandoned"
        legs = fail_open(transfer.attempts, "caller-left")
    else:
        move(transfer, TransferStatus.ENDED)
        escalation = transfer.escalation
        if escalation is not None and escalation.status == EscalationStatus.DIALING:
            # The caller left while 911 was being called back: stop ringing 911's lines.
            move(escalation, EscalationStatus.CANCELED)
            legs = fail_open(escalation.attempts, "caller-left")
    notes.add(EventKind.ENDED, "ended", outcome=transfer.outcome or "abandoned")
    return legs
