"""The transfer service: what happens at each step of a warm transfer.

Views parse Twilio's form or the PSAP's JSON, call one method here, and return what it
gives back. Every change of a transfer goes through `TransferStore.update` (atomic across
workers); calls out (Twilio REST, events) happen only after the change is saved, so a
repeated or late callback that changes nothing also does nothing.

The flow, in short: the PSAP registers a transfer (or keys a code or ZIP on the call); the
caller's leg waits in a conference; centers from the decision's dial plan are rung one at a
time with answering machine detection; a human counselor hears a whisper and presses 1 to
join. Anything else (no answer, busy, failed, declined, voicemail, closed) rolls over to
the next center, until the plan or the deadline runs out and 911 keeps the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import redis
from twilio.base.exceptions import TwilioException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from gateway import twiml
from gateway.afterwards import Work, run_now
from gateway.events import Event, EventKind, EventSink, Scalar
from gateway.intake import (
    InputError,
    Refusal,
    TransferRequest,
    agreement_refusal,
    keyed_callback,
    partnership_refusal,
    spoken_location,
    triage_refusal,
    unknown_zip,
)
from gateway.records import RegisteredTransfer, TransferRecorder
from gateway.settings import FlowConfig
from gateway.state import (
    ABANDONED,
    ACTIVE,
    ATTEMPT_OPEN,
    CONNECTED,
    DIALING,
    ENDED,
    ESCALATION_CANCELED,
    ESCALATION_DIALING,
    NOTICE_HOLDS,
    PENDING,
    RETURNED,
    Attempt,
    Transfer,
    TransferStore,
    new_transfer_id,
    still_open,
)
from gateway.store.privacy import Cipher
from routing.areacode import parse_e164
from routing.engine import Decision, Router
from routing.errors import RoutingError, UnknownZipError
from routing.location import Civic, LocationQuery
from routing.model import Center

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]

# Ringing a center for less than this is pointless: the deadline is as good as reached.
MIN_RING_S = 10
# The deadline watchdog runs this long after the deadline: callbacks due by then have come.
DEADLINE_GRACE_S = 15
# A caller still waiting this long after being given back to 911 was not redirected (the
# REST request failed): the wait message loop redirects them again. Sooner, the first
# redirect may still be on its way, and a second one would repeat the message to 911.
REDIRECT_SETTLE_S = 10.0
# Results that end an attempt whose leg may still be on its way (see _record_sid).
ENDED_UNPLACED = frozenset({"caller-left", "deadline"})
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# A leg's status callback is asked for only when the leg ends ("completed" brings every final
# status above): the flow acts on nothing earlier, and each extra event is one more webhook
# per leg under load. Answering is learned from the leg's own Url webhook (the whisper).
LEG_EVENTS = ["completed"]
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}
# What a counselor's join into the caller's room means (`_joined`).
HANDED_OFF, ALONE = "handed-off", "alone"
ACCEPTED_ANNOUNCEMENT = "A 9 8 8 counselor is connected. 9 1 1 may now leave the call."


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Notes:
    """Steps recorded during one change: written to the transfer's history, then emitted."""

    at: float
    transfer: Transfer
    events: list[tuple[EventKind, str, dict[str, Scalar]]] = field(default_factory=list)

    def add(self, kind: EventKind, key: str, **data: Scalar) -> None:
        self.transfer.note(self.at, kind.value, **data)
        self.events.append((kind, f"{self.transfer.id}:{key}", data))


@dataclass(frozen=True)
class Created:
    """An eligible request's answer."""

    transfer: Transfer
    decision: Decision
    conference_number: str


@dataclass(frozen=True)
class Plan:
    """What `_plan_next` decided: dial dial_plan[index] with `timeout`, or give up."""

    index: int = -1
    timeout: int = 0
    center_id: str = ""


class TransferService:
    """The call flow's operations. Collaborators are passed in, never looked up.

    Args:
        router: the routing core (in-memory tables).
        twilio: the Twilio REST client from gateway.telephony.build_client.
        sink: where events go.
        store: live transfer state in Redis.
        flow: call-flow settings (gateway number, pending window).
        links: absolute webhook URLs.
        deadline_s: the overall deadline from the caller's arrival to a counselor.
        clock: the time (tests give the simulator's virtual clock).
        recorder: where each registered transfer's protected record goes (the store).
        cipher: seals the caller's location in the live state (ENCRYPTION_KEY); without
            one the location is not kept, and the escalation whisper names the county.
        after: schedules the REST requests a webhook decides on; the web app sends them
            after its response (gateway.afterwards), elsewhere they run at once.
    """

    def __init__(
        self,
        router: Router,
        twilio: Client,
        sink: EventSink,
        store: TransferStore,
        flow: FlowConfig,
        links: twiml.Links,
        deadline_s: int,
        clock: Clock = utc_now,
        recorder: TransferRecorder | None = None,
        after: Callable[[Work], None] = run_now,
        cipher: Cipher | None = None,
    ) -> None:
        self.router, self.twilio, self.sink, self.store = router, twilio, sink, store
        self.flow, self.links, self.deadline_s, self.clock = flow, links, deadline_s, clock
        self.recorder, self.after, self.cipher = recorder, after, cipher
        # Schedules the watchdog job for a transfer, `seconds` from now (the app wires in
        # gateway.escalation's Watchdog; it checks the centers' phase and the bounce-back).
        self.watch: Callable[[str, float], None] = lambda transfer_id, seconds: None

    # -- helpers ---------------------------------------------------------------------

    def now(self) -> float:
        return self.clock().timestamp()

    def seal(self, text: str) -> str:
        """Encrypt a personal detail for the live state; "" without a key (not kept)."""
        return self.cipher.encrypt(text) if self.cipher is not None and text else ""

    def unseal(self, token: str) -> str:
        """The sealed detail, or "" when there is none or it was sealed under another key."""
        if not token or self.cipher is None:
            return ""
        try:
            return self.cipher.decrypt(token)
        except ValueError:
            log.warning("a sealed detail could not be read (ENCRYPTION_KEY changed?)")
            return ""

    def emit(self, transfer_id: str, kind: EventKind, key: str, **data: Scalar) -> None:
        """Send one event; a failing sink is logged, never allowed to fail a call."""
        self._send(transfer_id, [(kind, key, data)])

    def _send(
        self, transfer_id: str, events: list[tuple[EventKind, str, dict[str, Scalar]]]
    ) -> None:
        if not events:
            return
        at = self.clock()
        try:
            self.sink.emit(*(Event(transfer_id, kind, key, at, data) for kind, key, data in events))
        except Exception:
            kinds = ", ".join(kind.value for kind, _, _ in events)
            log.exception("events %s for %s were not emitted", kinds, transfer_id)

    def change(
        self, transfer_id: str, fn: Callable[[Transfer, Notes], T]
    ) -> tuple[Transfer, T] | None:
        """Change a transfer atomically, then emit the events the change recorded."""
        holder: list[Notes] = []

        def run(transfer: Transfer) -> T:
            holder[:] = [Notes(self.now(), transfer)]
            return fn(transfer, holder[0])

        done = self.store.update(transfer_id, run)
        if done is not None:
            self._send(transfer_id, holder[0].events)  # one round trip for all of them
        return done

    def psap_for_number(self, number: str) -> str | None:
        """The PSAP a call comes from, by the numbers in the tables."""
        for psap in self.router.tables.psaps.values():
            if number in psap.numbers:
                return psap.id
        return None

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
        refusal = triage_refusal(request)
        decision = None
        if refusal is None:
            decision = self._route(request.query(psap_id))
            refusal = partnership_refusal(
                self.router.tables,
                psap_id,
                (decision.center_id, decision.located_center_id),
                request,
            )
        if refusal is not None or decision is None:
            assert refusal is not None
            self._declined(transfer_id, refusal)
            return refusal
        transfer = self._register(transfer_id, psap_id, request, decision)
        return Created(transfer, decision, self.flow.gateway_number)

    def _declined(self, transfer_id: str, refusal: Refusal) -> None:
        self.emit(
            transfer_id,
            EventKind.DECLINED_AT_TRIAGE,
            f"{transfer_id}:declined",
            reason=refusal.reason,
        )

    def _decide(self, query: LocationQuery) -> Decision:
        # Hours are judged on the service's clock, as every other time of the transfer.
        return self.router.route(replace(query, at=query.at or self.clock()))

    def _route(self, query: LocationQuery) -> Decision:
        try:
            return self._decide(query)
        except UnknownZipError as exc:
            raise unknown_zip(exc) from None
        except RoutingError as exc:
            raise InputError("unroutable", str(exc), "location") from None

    def _register(
        self, transfer_id: str, psap_id: str, request: TransferRequest, decision: Decision
    ) -> Transfer:
        window = self.flow.pending_window_s
        transfer = _new_transfer(transfer_id, "api", psap_id, decision, self.now())
        transfer.risk, transfer.call_type = request.risk.value, request.call_type
        transfer.language, transfer.veteran = request.language, request.veteran
        transfer.consent, transfer.summary = request.consent, request.summary
        # Kept for the escalation whisper only (see gateway/state.py), never in an event.
        transfer.callback_number = request.callback_number or ""
        transfer.location_sealed = self.seal(spoken_location(request.geo, request.civic))
        transfer.code = self.store.reserve_code(transfer_id, window)
        self.store.create(transfer, window)
        self._emit_routed(transfer, decision)
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

    def _emit_routed(self, transfer: Transfer, decision: Decision) -> None:
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
        transfer_id = self._find_transfer(form)
        if transfer_id is None:
            self._remember_callback(form)
            return twiml.menu(self.links, 0)
        return self.connect(transfer_id, form["CallSid"]) or twiml.menu(self.links, 0)

    def _remember_callback(self, form: Mapping[str, str]) -> None:
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
        self.store.remember_callback(form["CallSid"], number, self.flow.pending_window_s)

    def _find_transfer(self, form: Mapping[str, str]) -> str | None:
        """By the SIP header X-Transfer-Id, else the PSAP's only recent pending transfer."""
        header = form.get("SipHeader_X-Transfer-Id", "").strip()
        if header:
            found = self.store.get(header)
            if found is not None and (
                found.status == PENDING or found.caller_sid == form.get("CallSid")
            ):
                return found.id
        psap_id = self.psap_for_number(form.get("From", ""))
        if psap_id is None:
            return None
        recent = self.store.pending_for(psap_id, self.now() - self.flow.pending_window_s)
        return recent[0] if len(recent) == 1 else None

    def connect(self, transfer_id: str, call_sid: str) -> VoiceResponse | None:
        """Claim a pending transfer for this call and ring its first center.

        Returns:
            The caller's TwiML, or None when another call already took the transfer.
        """
        done = self.change(transfer_id, lambda t, n: self._claim(t, n, call_sid))
        if done is None or done[1] == "taken":
            return None
        transfer, claim = done
        if claim == "claimed":
            try:
                self.store.forget_pending(transfer)
                self.store.link_call(call_sid, transfer.id)
                transfer = self._dial_from(transfer.id, 0, redirect_caller=False) or transfer
            except redis.RedisError:
                # The claim is saved and a center may be ringing: the caller must be in the
                # room, where a counselor who accepts will still find them.
                log.exception("state lost while dialing %s", transfer.id)
            # If a center's status callback is lost, or the dial above failed, only this
            # check ends the wait (scheduled after the ring, so it never delays it).
            self.after(partial(self.watch, transfer.id, self.deadline_s + DEADLINE_GRACE_S))
        if transfer.status == RETURNED:
            return self.returned_twiml(transfer.id)
        return twiml.caller_waits(self.links, transfer.id, transfer.room, transfer.deadline_at)

    def _claim(self, transfer: Transfer, notes: Notes, call_sid: str) -> str:
        if transfer.status != PENDING:
            return "again" if transfer.caller_sid == call_sid else "taken"
        now = notes.at
        transfer.status, transfer.caller_sid = DIALING, call_sid
        transfer.arrived_at, transfer.deadline_at = now, now + self.deadline_s
        transfer.note(now, "caller_arrived")
        return "claimed"

    def menu(self, form: Mapping[str, str], tries: int) -> VoiceResponse:
        """What the call-taker keyed: a transfer code, a ZIP code, or # for their area.

        After a ZIP code (or before # alone), star and the caller's 10-digit number give
        the callback number 911 hears if the counselor escalates: "66101*8165550123#".
        """
        keyed, psap_id = form.get("Digits", ""), self.psap_for_number(form.get("From", ""))
        digits, star, number = keyed.partition("*")
        own_area = not digits and form.get("FinishedOnKey") == "#"
        if len(digits) == 6 and not star:
            return self._by_code(digits, psap_id, form["CallSid"], tries)
        if psap_id is None and (len(digits) == 5 or own_area):
            text = "This number is not a registered 9 1 1 center. Enter a transfer code."
            return twiml.menu(self.links, tries, text)
        if not (len(digits) == 5 or own_area):
            prefix = "That entry was not understood." if keyed else "No entry was received."
            return twiml.menu(self.links, tries, prefix)
        callback = keyed_callback(number) if star else None
        if star and callback is None:
            return twiml.menu(self.links, tries, "That callback number was not understood.")
        if digits:
            civic = Civic(postal_code=digits)
            return self._keyed_route(civic, "zip", psap_id, form, tries, callback)
        return self._keyed_route(None, "psap-area", psap_id, form, tries, callback)

    def _by_code(self, code: str, psap_id: str | None, call_sid: str, tries: int) -> VoiceResponse:
        transfer_id = self.store.by_code(code)
        transfer = self.store.get(transfer_id) if transfer_id else None
        # A code keyed from another PSAP's line is not theirs to use.
        if transfer is not None and psap_id in (None, transfer.psap_id):
            found = self.connect(transfer.id, call_sid)
            if found is not None:
                return found
        return twiml.menu(self.links, tries, "That code was not found.")

    def _keyed_route(
        self,
        civic: Civic | None,
        origin: str,
        psap_id: str | None,
        form: Mapping[str, str],
        tries: int,
        keyed_number: str | None,
    ) -> VoiceResponse:
        """A transfer nobody registered: route by the keyed ZIP or the PSAP's area.

        The callback number the call-taker keyed wins over the one their equipment sent.
        """
        assert psap_id is not None
        callback = keyed_number or self.store.callback_for(form["CallSid"])
        query = LocationQuery(civic=civic, psap_id=psap_id, caller=callback or None)
        try:
            decision = self._decide(query)
        except RoutingError:
            return twiml.menu(self.links, tries, "That ZIP code was not found.")
        transfer = _new_transfer(new_transfer_id(), origin, psap_id, decision, self.now())
        # For the escalation whisper only, as for API transfers (see gateway/state.py).
        transfer.callback_number = callback
        transfer.location_sealed = self.seal(spoken_location(None, civic))
        self.emit(
            transfer.id,
            EventKind.REQUESTED,
            f"{transfer.id}:requested",
            origin=origin,
            psap_id=psap_id,
        )
        centers = (decision.center_id, decision.located_center_id)
        refusal = agreement_refusal(self.router.tables, psap_id, centers)
        if refusal is not None:
            self._declined(transfer.id, refusal)
            name = self.router.tables.centers[decision.center_id].name
            text = f"There is no transfer agreement with {name}. 9 1 1 keeps the call."
            return twiml.menu(self.links, tries, text)
        # Not findable by the PSAP's other calls: between this and connect() a second call
        # from the same PSAP would otherwise take it as "the PSAP's only pending transfer".
        self.store.create(transfer, self.flow.pending_window_s, findable=False)
        self._emit_routed(transfer, decision)
        return self.connect(transfer.id, form["CallSid"]) or twiml.menu(self.links, tries)

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
        overdue = deadline_at is not None and now >= deadline_at + DEADLINE_GRACE_S
        try:
            transfer = self.store.get(transfer_id) if transfer_id else None
        except redis.RedisError:
            log.warning("state out of reach while %s waits", transfer_id)
            transfer = None
        if transfer is None:
            text = twiml.NOT_REACHED if overdue else twiml.WAIT_MESSAGE
            return twiml.wait_message(self.links, query, text)
        if transfer.status == RETURNED:
            if now - _returned_at(transfer) >= REDIRECT_SETTLE_S:
                self.after(partial(self._redirect_caller, transfer))
            return twiml.wait_message(self.links, query, twiml.NOT_REACHED)
        if transfer.status == DIALING and now >= (transfer.deadline_at or now) + DEADLINE_GRACE_S:
            self.after(partial(self._check_overdue, transfer))
        return twiml.wait_message(self.links, query)

    def _check_overdue(self, transfer: Transfer) -> None:
        try:
            self.check_dialing(transfer)
        except (TwilioException, redis.RedisError):
            # The next fetch of the waitUrl (or the watchdog job) tries again.
            log.warning("could not check the overdue transfer %s", transfer.id)

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

    def hang_up(self, call_sid: str, answered: bool) -> None:
        """Cancel a ringing leg or end an answered one (best effort)."""
        # Twilio cancels only a ringing call with "canceled"; an answered one needs
        # "completed". A leg that answers meanwhile is refused at the whisper instead.
        try:
            self.twilio.calls(call_sid).update(status="completed" if answered else "canceled")
        except TwilioException:
            log.warning("could not end leg %s; its whisper will refuse it", call_sid)

    # -- ringing centers -------------------------------------------------------------

    def _dial_from(
        self, transfer_id: str, index: int, *, redirect_caller: bool = True
    ) -> Transfer | None:
        """Choose the first open center from dial_plan[index] now and ring it afterwards,
        or give the caller back to 911.

        Args:
            redirect_caller: whether giving back must redirect the caller's leg; False
                when the caller's own webhook is answering and says where to go.
        """
        done = self.change(transfer_id, partial(self._plan_next, index=index))
        if done is None:
            return None
        transfer, plan = done
        if plan is None:
            return transfer
        if plan.index < 0:
            if redirect_caller:
                self.after(partial(self._redirect_caller, transfer))
            return transfer
        self.after(partial(self._ring, transfer, plan))
        return transfer

    def _ring(self, transfer: Transfer, plan: Plan) -> None:
        """Place the planned call; when Twilio refuses it, on to the next center."""
        if not self._place_call(transfer, plan):
            # The caller's TwiML has long been answered: giving back means redirecting.
            self._dial_from(transfer.id, plan.index + 1)

    def _plan_next(self, transfer: Transfer, notes: Notes, *, index: int) -> Plan | None:
        """Choose the next center to ring (skipping closed ones), or return the caller."""
        if transfer.status != DIALING or len(transfer.attempts) != index:
            return None  # someone else already moved this transfer on
        previous = transfer.attempt(index - 1)
        index = _skip_closed(transfer, notes, index, self.router.tables.centers)
        remaining = (transfer.deadline_at or notes.at) - notes.at
        if index >= len(transfer.dial_plan):
            return _give_back(transfer, notes, "no-center-answered")
        if remaining < MIN_RING_S:
            return _give_back(transfer, notes, "deadline")
        center_id = transfer.dial_plan[index]
        if previous is not None:
            notes.add(
                EventKind.ROLLOVER,
                f"rollover:{index}",
                from_center_id=previous.center_id,
                to_center_id=center_id,
                reason=previous.result,
            )
        transfer.attempts.append(Attempt(center_id, started_at=notes.at))
        transfer.current = index
        notes.add(EventKind.DIAL_ATTEMPT, f"dial:{index}", center_id=center_id, attempt=index)
        timeout = min(self.router.tables.centers[center_id].ring_timeout_s, int(remaining))
        return Plan(index, timeout, center_id)

    def _place_call(self, transfer: Transfer, plan: Plan) -> bool:
        """Ring one center. Returns False when Twilio refused the request."""
        query: dict[str, str | int] = {"t": transfer.id, "a": plan.index}
        try:
            call = self.twilio.calls.create(
                to=self.router.tables.centers[plan.center_id].number,
                from_=self.flow.gateway_number,
                url=self.links.url("/voice/whisper", **query),
                method="POST",
                fallback_url=self.links.url("/voice/fallback/center"),
                status_callback=self.links.url("/voice/center-status", **query),
                status_callback_event=LEG_EVENTS,
                status_callback_method="POST",
                timeout=plan.timeout,
                machine_detection="Enable",
            )
        except TwilioException:
            # Refused, or no answer from Twilio (then it may ring: its webhooks name an
            # attempt already over, and are ignored). The error's text may name numbers.
            log.warning("the call to %s for %s was not placed", plan.center_id, transfer.id)
            self.change(transfer.id, lambda t, n: _end_attempt(t, n, plan.index, "", "failed"))
            return False
        sid = str(call.sid)
        try:
            done = self.change(transfer.id, lambda t, n: _record_sid(t, plan.index, sid))
        except redis.RedisError:
            # The call is placed; its webhooks carry the transfer id and attempt anyway.
            log.exception("could not record the leg of %s", transfer.id)
            return True
        if done is not None and done[1]:
            self.hang_up(sid, answered=False)
        return True

    def _redirect_caller(self, transfer: Transfer) -> None:
        if not transfer.caller_sid:
            return
        try:
            self.twilio.calls(transfer.caller_sid).update(
                url=self.links.url("/voice/returned", t=transfer.id), method="POST"
            )
        except TwilioException:
            # The caller's leg stays in the waiting room, still with 911: nothing is lost.
            log.warning("could not redirect the caller of %s", transfer.id)

    def check_dialing(self, transfer: Transfer) -> str:
        """The watchdog, once the deadline has passed: move on a transfer still dialing.

        Status callbacks move a transfer from center to center, and the deadline ends the
        dial plan; a lost callback (or a crash between two steps) would leave the caller
        hearing the wait message for ever. So the leg of the last attempt is asked about:
        ended, it is recorded as its callback would have; still ringing, it is hung up; a
        counselor hearing the whisper is left to decide. Either way the next step is the
        normal one, which after the deadline gives the caller back to 911.

        Returns:
            "in-flight" (check again later) or "rolled-over".

        Raises:
            TwilioException, redis.RedisError: the job fails and RQ retries it.
        """
        if self.now() < (transfer.deadline_at or 0.0) + DEADLINE_GRACE_S:
            return "in-flight"
        index = len(transfer.attempts) - 1
        attempt = transfer.attempt(index)
        if attempt is None or attempt.status not in ATTEMPT_OPEN:
            self._dial_from(transfer.id, index + 1)  # the next step was never taken
            return "rolled-over"
        if attempt.call_sid:
            status = str(self.twilio.calls(attempt.call_sid).fetch().status)
            if status in FINAL_CALL_STATUSES:
                self.center_status(
                    transfer.id, index, {"CallStatus": status, "CallSid": attempt.call_sid}
                )
                return "rolled-over"
            if status == "in-progress":
                return "in-flight"  # a counselor is hearing the whisper: they decide
            self.hang_up(attempt.call_sid, answered=False)
        sid = attempt.call_sid
        done = self.change(transfer.id, lambda t, n: _end_attempt(t, n, index, sid, "deadline"))
        if done is not None and done[1]:
            self._dial_from(transfer.id, index + 1)
        return "rolled-over"

    def center_status(self, transfer_id: str, index: int, form: Mapping[str, str]) -> None:
        """A center leg's status callback; only a final status can move the transfer on."""
        final = final_leg_result(form)
        if final is None:
            return
        sid, result = final
        done = self.change(transfer_id, lambda t, n: _end_attempt(t, n, index, sid, result))
        if done is not None and done[1]:
            self._dial_from(transfer_id, index + 1)

    # -- the counselor's leg ---------------------------------------------------------

    def whisper(self, transfer_id: str, index: int, form: Mapping[str, str]) -> VoiceResponse:
        """A center's line answered: a machine is hung up on, a person hears the whisper."""
        answered_by = form.get("AnsweredBy", "unknown")
        machine = answered_by.startswith("machine") or answered_by == "fax"
        sid = form.get("CallSid", "")
        try:
            done = self.change(
                transfer_id, lambda t, n: _answered(t, n, index, sid, machine=machine)
            )
        except redis.RedisError:
            # Without state the counselor still hears enough to accept.
            log.exception("whisper for %s without state", transfer_id)
            return twiml.whisper(self.links, transfer_id, index, _generic_whisper(), 0)
        if done is None or done[1] == "stale":
            return twiml.goodbye("This transfer is no longer waiting. Thank you.")
        if done[1] == "machine":
            self._dial_from(transfer_id, index + 1)
            return twiml.goodbye("")
        return twiml.whisper(self.links, transfer_id, index, self.whisper_text(done[0]), 0)

    def whisper_text(self, transfer: Transfer, summary: bool = False) -> str:
        """What the counselor hears before deciding: who, where, how urgent, which language."""
        psap = self.router.tables.psaps.get(transfer.psap_id or "")
        parts = [
            f"Transfer from 9 1 1: {psap.name if psap else 'a 9 1 1 center'}.",
            f"Caller in {transfer.county_name or 'an unknown location'}.",
            f"Risk {transfer.risk or 'not given'}.",
            f"Call type {(transfer.call_type or 'not given').replace('-', ' ')}.",
            f"Language {LANGUAGE_NAMES.get(transfer.language or 'en', transfer.language)}.",
        ]
        # On 3 only: what 911 wrote, and the number to call the caller back on should the
        # call drop (the counselor's phone shows the gateway's number, not the caller's).
        details: list[tuple[str, str]] = []
        if transfer.summary:
            details.append(
                ("the 9 1 1 summary", f"Summary from 9 1 1: {_sentence(transfer.summary)}")
            )
        if transfer.callback_number:
            number = twiml.spoken_number(transfer.callback_number)
            details.append(("the callback number", f"Callback number {number}."))
        if summary:
            parts[:0] = [text for _, text in details]
        keys = "Press 1 to accept, 2 to decline"
        keys += f", 3 to hear {' and '.join(name for name, _ in details)}." if details else "."
        return " ".join([*parts, keys])

    def whisper_answer(
        self, transfer_id: str, index: int, form: Mapping[str, str], repeat: int
    ) -> VoiceResponse:
        """The counselor's key: 1 accepts, 2 declines, 3 replays with the summary."""
        digits = form.get("Digits", "")
        if digits == "1":
            return self._accept(transfer_id, index)
        if digits == "2" or (repeat >= 1 and digits != "3"):
            reason = "key-2" if digits == "2" else "no-key"
            return self._decline(transfer_id, index, reason)
        transfer = self.store.get(transfer_id)
        if transfer is None or transfer.status != DIALING:
            return twiml.goodbye("This transfer is no longer waiting. Thank you.")
        text = self.whisper_text(transfer, summary=digits == "3")
        return twiml.whisper(self.links, transfer_id, index, text, repeat + 1)

    def _accept(self, transfer_id: str, index: int) -> VoiceResponse:
        room = f"transfer-{transfer_id}"
        try:
            done = self.change(transfer_id, lambda t, n: _accepted(t, n, index))
        except redis.RedisError:
            # A person pressed 1 and the caller is waiting in this room: join them.
            log.exception("accept for %s without state", transfer_id)
            return twiml.counselor_joins(self.links, transfer_id, index, room)
        if done is None or not done[1]:
            return twiml.goodbye("The caller is no longer waiting. Thank you.")
        return twiml.counselor_joins(self.links, transfer_id, index, room)

    def _decline(self, transfer_id: str, index: int, reason: str) -> VoiceResponse:
        done = self.change(transfer_id, lambda t, n: _declined(t, n, index, reason))
        if done is not None and done[1]:
            self._dial_from(transfer_id, index + 1)
        return twiml.goodbye("Declined. The caller will be offered to the next center.")

    def counselor_done(
        self, transfer_id: str, index: int, form: Mapping[str, str]
    ) -> VoiceResponse:
        """The counselor's <Dial> ended: they pressed * (the menu), or the caller left.

        Twilio does not say which. The caller leaving ends the transfer (its conference
        event), but that event may come after this webhook, so the caller's leg is asked,
        after the answer: a REST request takes 100-300 ms, too long to hold the counselor's
        TwiML. The counselor hears the menu at once; a caller still there hears that the
        counselor is still with them, and a counselor whose caller has gone is sent to
        the closing message instead of the menu.
        """
        if form.get("CallStatus") in FINAL_CALL_STATUSES:
            return twiml.empty()
        transfer = self.store.get(transfer_id)
        counselor_sid = form.get("CallSid", "")
        accepted = transfer.accepted() if transfer is not None else None
        if (
            transfer is not None
            and transfer.status == CONNECTED
            and accepted is not None
            and accepted.call_sid == counselor_sid
        ):
            self.after(partial(self._counselor_stepped_out, transfer, counselor_sid))
            return twiml.counselor_menu(self.links, transfer_id, index)
        return twiml.goodbye(twiml.CALL_ENDED)

    def _counselor_stepped_out(self, transfer: Transfer, counselor_sid: str) -> None:
        try:
            self.change(transfer.id, lambda t, n: _away(t, counselor_sid, n.at))
        except redis.RedisError:
            log.warning("could not note the counselor of %s in the menu", transfer.id)
        if self._caller_still_there(transfer):
            # The counselor steps out of the room for a few seconds: the caller must not
            # wonder whether anyone is still there.
            self.announce(transfer, transfer.caller_sid, "/voice/announce/stay")
            return
        self._end_leg(transfer.id, counselor_sid)

    def _alone(self, transfer: Transfer, call_sid: str) -> None:
        # Another room than the one recorded for the caller: their room ended. Twilio is
        # asked first, so a caller put back into a new room (whose join event is late) keeps
        # the counselor or 911 line who just joined it.
        if not self._caller_still_there(transfer):
            self._end_leg(transfer.id, call_sid)

    def _end_leg(self, transfer_id: str, call_sid: str) -> None:
        """The caller has gone: a counselor or 911 line hears that the call ended, then
        hangs up."""
        try:
            self.twilio.calls(call_sid).update(
                url=self.links.url("/voice/call-ended"), method="POST"
            )
        except TwilioException:
            # In the menu, their key is answered from the state, which says goodbye once
            # the caller's leaving is known; in a room, they are alone and may hang up.
            log.warning("could not end a leg of %s after its caller left", transfer_id)

    def _caller_still_there(self, transfer: Transfer) -> bool:
        try:
            status = self.twilio.calls(transfer.caller_sid).fetch().status
        except TwilioException:
            # Unknown: offer the menu; "return to the caller" is harmless either way.
            log.warning("could not fetch the caller's leg of %s", transfer.id)
            return True
        return str(status) in {"in-progress", "ringing", "queued"}

    # -- conference events -----------------------------------------------------------

    def conference_event(self, transfer_id: str, form: Mapping[str, str]) -> None:
        """Join and leave events: hand-off when the counselor joins; the caller leaving."""
        event, sid = form.get("StatusCallbackEvent", ""), form.get("CallSid", "")
        if event == "participant-join":
            done = self.change(transfer_id, lambda t, n: _joined(t, n, sid, form))
            if done is not None and done[1] == HANDED_OFF:
                self.announce(done[0], done[0].caller_sid, "/voice/announce")
            elif done is not None and done[1] == ALONE:
                self.after(partial(self._alone, done[0], sid))
            elif done is not None and done[1].startswith("/"):
                self.announce(done[0], sid, done[1])  # kept while they were in the menu
        elif event == "participant-leave" and (
            form.get("ReasonParticipantLeft") == "participant_hung_up"
        ):
            self.caller_gone(transfer_id, sid)

    def announce(self, transfer: Transfer, call_sid: str, path: str) -> None:
        """Play the document at `path` to one leg in the transfer's room (afterwards).

        Best effort: a failed announcement is logged and changes nobody's connection.
        """
        self.after(partial(self._announce, transfer.id, transfer.conference_sid, call_sid, path))

    def _announce(self, transfer_id: str, conference_sid: str, call_sid: str, path: str) -> None:
        try:
            self.twilio.conferences(conference_sid).participants(call_sid).update(
                announce_url=self.links.url(path), announce_method="POST"
            )
        except TwilioException:
            log.warning("could not announce %s in the room of %s", path, transfer_id)


# -- pure changes to a transfer (run inside TransferStore.update) -------------------------


def _new_transfer(
    transfer_id: str, origin: str, psap_id: str | None, decision: Decision, now: float
) -> Transfer:
    transfer = Transfer(
        id=transfer_id,
        origin=origin,
        psap_id=psap_id,
        status=PENDING,
        created_at=now,
        dial_plan=list(decision.dial_plan),
        method=decision.method,
        county_fips=decision.county_fips,
        county_name=decision.county_name,
        explanation=decision.explanation,
    )
    # The status timeline starts where the call-taker did, not when the caller arrived.
    transfer.note(now, "requested", origin=origin)
    transfer.note(now, "routed", center_id=decision.center_id, method=decision.method)
    return transfer


def _sentence(text: str) -> str:
    """`text` ending as a sentence, so the voice pauses once after it."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _returned_at(transfer: Transfer) -> float:
    """When the caller was given back to 911 (0 when the timeline does not say)."""
    kind = EventKind.RETURNED_TO_911.value
    return next((step["at"] for step in transfer.history if step["kind"] == kind), 0.0)


def _give_back(transfer: Transfer, notes: Notes, reason: str) -> Plan:
    transfer.status, transfer.outcome, transfer.current = RETURNED, f"returned:{reason}", -1
    notes.add(EventKind.RETURNED_TO_911, "returned", reason=reason)
    return Plan()


def _skip_closed(
    transfer: Transfer, notes: Notes, index: int, centers: Mapping[str, Center]
) -> int:
    """Pass over centers closed by their hours since routing; the next open one's index."""
    at = datetime.fromtimestamp(notes.at, UTC)
    while index < len(transfer.dial_plan):
        center = centers.get(transfer.dial_plan[index])
        if center is not None and center.is_open(at):
            return index
        transfer.attempts.append(Attempt(transfer.dial_plan[index], "failed", "closed"))
        notes.add(
            EventKind.DIAL_RESULT,
            f"result:{index}",
            center_id=transfer.dial_plan[index],
            status="closed",
        )
        index += 1
    return index


def _record_sid(transfer: Transfer, index: int, sid: str) -> bool:
    """Record the leg placed for an attempt. True when the attempt ended while the REST
    request was out (the caller left, the deadline passed): nobody could cancel the leg
    then, since its SID was not known, so it must be hung up now."""
    attempt = transfer.attempt(index)
    if attempt is None or attempt.call_sid:
        return False
    attempt.call_sid = sid
    return attempt.result in ENDED_UNPLACED


def final_leg_result(form: Mapping[str, str]) -> tuple[str, str] | None:
    """(CallSid, result) of a status callback that ends a leg we placed; None otherwise.

    A leg that completed without reaching a decision (a center's whisper, a PSAP's) hung up
    without pressing a key: "no-key". Other final statuses are the result as Twilio says it.
    """
    status = form.get("CallStatus", "")
    if status not in FINAL_CALL_STATUSES:
        return None
    return form.get("CallSid", ""), "no-key" if status == "completed" else status


def _open_attempt(transfer: Transfer, index: int, sid: str) -> Attempt | None:
    """The attempt at `index` if it is still open and this leg is its leg."""
    return still_open(transfer.attempt(index), sid)


def _end_attempt(transfer: Transfer, notes: Notes, index: int, sid: str, result: str) -> bool:
    """Close an open attempt with `result`. True when the transfer should roll over."""
    attempt = _open_attempt(transfer, index, sid)
    if attempt is None:
        return False  # a duplicate or late callback: already decided
    attempt.status, attempt.result = "failed", result
    notes.add(EventKind.DIAL_RESULT, f"result:{index}", center_id=attempt.center_id, status=result)
    return transfer.status == DIALING and transfer.current == index


def _answered(transfer: Transfer, notes: Notes, index: int, sid: str, *, machine: bool) -> str:
    attempt = _open_attempt(transfer, index, sid)
    if attempt is None or transfer.status != DIALING or transfer.current != index:
        return "stale"
    if machine:
        _end_attempt(transfer, notes, index, sid, "machine")
        return "machine"
    if attempt.status == "dialing":
        attempt.status = "answered"
        notes.add(
            EventKind.DIAL_RESULT,
            f"answered:{index}",
            center_id=attempt.center_id,
            status="answered",
        )
    return "human"


def _accepted(transfer: Transfer, notes: Notes, index: int) -> bool:
    attempt = _open_attempt(transfer, index, "")
    if attempt is None or transfer.status != DIALING or transfer.current != index:
        return False
    attempt.status, transfer.status, transfer.outcome = "accepted", CONNECTED, "accepted"
    notes.add(EventKind.WHISPER_ACCEPTED, f"accepted:{index}", center_id=attempt.center_id)
    return True


def _declined(transfer: Transfer, notes: Notes, index: int, reason: str) -> bool:
    attempt = _open_attempt(transfer, index, "")
    if attempt is None:
        return False
    notes.add(
        EventKind.WHISPER_DECLINED, f"declined:{index}", center_id=attempt.center_id, reason=reason
    )
    return _end_attempt(transfer, notes, index, "", "declined" if reason == "key-2" else reason)


def _caller_left(transfer: Transfer, notes: Notes, call_sid: str) -> list[tuple[str, bool]]:
    """Mark the caller gone; the open legs to cancel, as (call sid, answered)."""
    if not call_sid or transfer.caller_sid != call_sid or transfer.status in {ABANDONED, ENDED}:
        return []
    notes.add(EventKind.CALLER_HUNG_UP, "caller-left", while_status=transfer.status)
    legs: list[tuple[str, bool]] = []
    if transfer.status == DIALING:
        transfer.status, transfer.outcome = ABANDONED, "abandoned"
        for attempt in transfer.attempts:
            if attempt.status in ATTEMPT_OPEN:
                if attempt.call_sid:
                    legs.append((attempt.call_sid, attempt.status == "answered"))
                attempt.status, attempt.result = "failed", "caller-left"
    else:
        transfer.status = ENDED
        legs.extend(_cancel_escalation(transfer))
    notes.add(EventKind.ENDED, "ended", outcome=transfer.outcome or "abandoned")
    return legs


def _cancel_escalation(transfer: Transfer) -> list[tuple[str, bool]]:
    """The caller left while 911 was being called back: stop ringing 911's lines."""
    escalation = transfer.escalation
    if escalation is None or escalation.status != ESCALATION_DIALING:
        return []
    escalation.status = ESCALATION_CANCELED
    legs: list[tuple[str, bool]] = []
    for attempt in escalation.attempts:
        if attempt.status in ATTEMPT_OPEN:
            if attempt.call_sid:
                legs.append((attempt.call_sid, attempt.status == "answered"))
            attempt.status, attempt.result = "failed", "caller-left"
    return legs


def _joined(transfer: Transfer, notes: Notes, sid: str, form: Mapping[str, str]) -> str:
    """Record the room. HANDED_OFF when this join is the accepting counselor's first; ALONE
    when a leg of the transfer joins a room that is not the caller's (`_outside_the_room`)."""
    room = form.get("ConferenceSid", "")
    if sid == transfer.caller_sid:
        transfer.conference_sid = room or transfer.conference_sid
        return ""
    if _outside_the_room(transfer, sid, room):
        return ALONE
    accepted = transfer.accepted()
    if accepted is None or accepted.call_sid != sid:
        return ""
    if transfer.outcome == "handed-off":
        return _back_from_the_menu(transfer)
    transfer.outcome = "handed-off"
    transfer.conference_sid = room or transfer.conference_sid
    notes.add(EventKind.HANDOFF, "handoff", center_id=accepted.center_id)
    if transfer.status in {ABANDONED, ENDED}:
        # A join delivered after the caller's leave: in the caller's room it happened
        # before the room ended (the caller's leg ends it), so it is recorded as in order;
        # but there is nobody left to tell that 988 is connected.
        return ""
    return HANDED_OFF if transfer.conference_sid and transfer.caller_sid else ""


def _away(transfer: Transfer, counselor_sid: str, now: float) -> None:
    accepted = transfer.accepted()
    if accepted is not None and accepted.call_sid == counselor_sid:
        transfer.counselor_away_since = now


def _back_from_the_menu(transfer: Transfer) -> str:
    """The counselor is back in the caller's room: the path of an announcement kept for
    them meanwhile, if it still holds, or ""."""
    transfer.counselor_away_since = None
    escalation = transfer.escalation
    if escalation is None or not escalation.notice:
        return ""
    notice, escalation.notice = escalation.notice, ""
    return notice if escalation.status == NOTICE_HOLDS.get(notice) else ""


def _outside_the_room(transfer: Transfer, sid: str, room: str) -> bool:
    """A counselor back from the menu, a counselor whose caller left between their 1 and
    their join, or a 911 line that pressed 1, joined another room than the caller's. Only
    the caller's leg ends that room, and a <Dial><Conference> to its name after it ended
    starts a new, empty one."""
    if not room or not transfer.conference_sid or room == transfer.conference_sid:
        return False
    accepted = transfer.accepted()
    if accepted is not None and accepted.call_sid == sid:
        return transfer.outcome == "handed-off" or transfer.status in {ABANDONED, ENDED}
    escalation = transfer.escalation
    return escalation is not None and any(a.call_sid == sid for a in escalation.attempts)


def _generic_whisper() -> str:
    return "Transfer from 9 1 1. Details are unavailable. Press 1 to accept, 2 to decline."


def transfer_view(transfer: Transfer) -> dict[str, Any]:
    """The status API's view of a transfer: live state and timeline, no caller data."""
    current = transfer.attempt(transfer.current)
    return {
        "transfer_id": transfer.id,
        "status": transfer.status,
        "outcome": transfer.outcome or None,
        "origin": transfer.origin,
        "psap_id": transfer.psap_id,
        "risk": transfer.risk,
        "call_type": transfer.call_type,
        "county": transfer.county_name,
        "explanation": transfer.explanation,
        "dial_plan": transfer.dial_plan,
        "current_center_id": current.center_id if current else None,
        "attempts": [
            {"center_id": a.center_id, "status": a.status, "result": a.result or None}
            for a in transfer.attempts
        ],
        "created_at": _iso(transfer.created_at),
        "arrived_at": _iso(transfer.arrived_at),
        "deadline_at": _iso(transfer.deadline_at),
        "timeline": [{**step, "at": _iso(step["at"])} for step in transfer.history],
        "escalation": escalation_view(transfer),
    }


def escalation_view(transfer: Transfer) -> dict[str, Any] | None:
    """The bounce-back's state; numbers are named by their index, never written out."""
    escalation = transfer.escalation
    if escalation is None:
        return None
    return {
        "status": escalation.status,
        "by": escalation.by,
        "requested_at": _iso(escalation.requested_at),
        "attempts": [
            {"number_index": a.number_index, "status": a.status, "result": a.result or None}
            for a in escalation.attempts
        ],
    }


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat()
