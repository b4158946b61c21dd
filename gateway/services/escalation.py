"""Escalation bounce-back: a counselor brings the originating 911 center back into the room.

A counselor asks with * then 9 during the call (`counselor_menu`), or the center's system
calls POST /api/v1/transfers/<id>/escalate. The gateway rings the PSAP's escalation line,
then its alternates in order, round after round, until a person presses 1 and joins
the caller and the counselor in the same conference. After two rounds (`TELL_AFTER_ROUNDS`)
the counselor hears that 911 has not answered yet and the gateway keeps calling. It stops
when the caller leaves; after `MAX_ROUNDS` rounds or `GIVE_UP_S`, or once a whole round
could not place one call (Twilio out of reach), the counselor hears that 911 could not be
reached. Each leg has answering machine detection (a voicemail is not an answer) and a
whisper: the 988 center's name, where the caller is, and their callback number.

Who moves the escalation on:

1. The request itself chooses the first number, and the web process dials it as soon as
   the webhook or API call has answered (gateway/web/afterwards.py): no queue.
2. Each leg's status callback (busy, no-answer, failed, canceled) and its whisper
   (machine, no key) dial the next number.
3. A watchdog job on the "escalations" RQ queue (`gateway.jobs.watch`) checks some seconds
   later whether the escalation is still stuck on a leg whose callback was lost, asks
   Twilio for that leg's status and moves on; then it checks again, until it is settled.

With no worker alive, 1 and 2 still carry the whole escalation. The job takes only the
transfer id: the callback number stays in the live state (adapters/live_state.py). Events name
numbers by their index in [escalation, *alternates], never by the number.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from twilio.twiml.voice_response import VoiceResponse

from gateway.adapters import twiml
from gateway.adapters.connections import StateUnavailable
from gateway.adapters.watchdog import WATCHDOG_DELAY_S, Watchdog
from gateway.domain.events import EventKind
from gateway.domain.transfer import (
    MENU_AWAY_S,
    Answer,
    Attempt,
    AttemptStatus,
    Check,
    Escalation,
    EscalationAttempt,
    EscalationStatus,
    Notes,
    Notice,
    Start,
    Transfer,
    TransferStatus,
    move,
)
from gateway.services.centers import notice_endpoint
from gateway.services.dialing import FINAL_CALL_STATUSES, Calls, Dial, Dialer
from gateway.telephony import TelephonyError

if TYPE_CHECKING:
    from gateway.services.transfers import TransferService
    from routing.model import Psap

log = logging.getLogger(__name__)

# After this many rounds of every number without an answer, the counselor is told that
# 911 has not answered yet (and may call another way); the gateway keeps calling.
TELL_AFTER_ROUNDS = 2
# ...for at most this many rounds (a line busy at once is rung again at once, so a round
# may take seconds), and at most this long after the request: the caller has been waiting
# for 911 for minutes.
MAX_ROUNDS = 5
GIVE_UP_S = 300
# 911 answers 90% of calls within 15 s (NENA): 20 s of ringing, then the next number.
RING_TIMEOUT_S = 20
# The watchdog stops re-checking after this long; each leg has ended by then anyway.
WATCH_FOR_S = 600

# Short: the caller is in the room without the counselor until they are said.
MENU_MESSAGES = {
    Start.STARTED: "Calling 9 1 1 now.",
    Start.IN_PROGRESS: "9 1 1 is already being called.",
    Start.JOINED: "9 1 1 is already on this call.",
}
NOT_CALLED = "9 1 1 could not be called from here. Please call 9 1 1 another way."
UNREACHED = (
    "9 1 1 could not be reached on any of its lines. Please call 9 1 1 another way, "
    "and stay with the caller."
)
STILL_CALLING = (
    "9 1 1 has not answered yet. The gateway keeps calling. If you can, also call 9 1 1 "
    "another way, and stay with the caller."
)
NO_LONGER_WAITING = "This 9 8 8 escalation is no longer waiting. Thank you."
GENERIC_WHISPER = "Escalation from 9 8 8. Details are unavailable. Press 1 to join."


@dataclass(frozen=True)
class EscalationRef:
    """Which escalation (`seq`) and which of the PSAP's numbers a 911 leg belongs to, as
    its webhook URLs carry it (`s`, `n`): when the live state is gone (Redis restarted
    empty), a 911 line that presses 1 is still recorded under the keys the state would have
    given it. Ids only, never the number. seq 0: not known (a URL without them)."""

    seq: int = 0
    number_index: int = 0

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> EscalationRef:
        """The reference in a webhook's query, or an unknown one if it is not well formed."""
        try:
            seq, number_index = int(args.get("s", "0")), int(args.get("n", "0"))
        except ValueError:
            return cls()
        if not (0 < seq <= MAX_SEQ and 0 <= number_index < MAX_NUMBERS):
            return cls()
        return cls(seq, number_index)

    def query(self) -> dict[str, int]:
        return {"s": self.seq, "n": self.number_index} if self.seq else {}


# Bounds of a well-formed `EscalationRef`: far beyond any real call.
MAX_SEQ, MAX_NUMBERS = 1000, 100
UNKNOWN_REF = EscalationRef()


class PsapLine:
    """The PSAP's escalation number and alternates, round after round, as a `Line`."""

    name, key, refused = "escalation", "e", "refused"
    answer_endpoint, status_endpoint = "voice.escalation_whisper", "voice.escalation_status"

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def numbers(self, transfer: Transfer) -> tuple[str, ...]:
        psap = self.psap(transfer)
        return (psap.escalation_number, *psap.alternates) if psap else ()

    def psap(self, transfer: Transfer) -> Psap | None:
        return self.calls.router.tables.psaps.get(transfer.psap_id or "")

    def attempts(self, transfer: Transfer) -> list[EscalationAttempt]:
        return transfer.escalation.attempts if transfer.escalation else []

    def is_current(self, transfer: Transfer, index: int) -> bool:
        escalation = transfer.escalation
        return (
            escalation is not None
            and escalation.status == EscalationStatus.DIALING
            and transfer.status == TransferStatus.CONNECTED
            and index == len(escalation.attempts) - 1
        )

    def plan(self, transfer: Transfer, notes: Notes, index: int) -> Dial | None:
        numbers = self.numbers(transfer)
        dial = _plan(transfer, notes, index, len(numbers))
        if dial is None or dial.index < 0:
            return dial
        number_index = transfer.escalation.attempts[-1].number_index if transfer.escalation else 0
        return Dial(dial.index, numbers[number_index], RING_TIMEOUT_S, dial.notice)

    def planned(self, transfer: Transfer, dial: Dial, redirect_caller: bool) -> None:
        if dial.notice is not None:
            self.tell_counselor(transfer, dial.notice)

    def tell_counselor(self, transfer: Transfer, notice: Notice) -> None:
        """The counselor hears how the escalation goes, in the room, with the caller."""
        accepted = transfer.accepted()
        if accepted is None or not transfer.conference_sid:
            return
        self.calls.announce(transfer, accepted.call_sid, notice_endpoint(notice))

    def ended(self, notes: Notes, index: int, attempt: Attempt | EscalationAttempt) -> None:
        assert isinstance(attempt, EscalationAttempt)
        _dialed(notes, index, attempt, attempt.result, "result")

    def answered(self, notes: Notes, index: int, attempt: Attempt | EscalationAttempt) -> None:
        """Not an event: the 911 call-taker's 1 is (ESCALATION_ANSWERED)."""

    def query(self, transfer: Transfer, index: int) -> dict[str, int]:
        escalation = transfer.escalation
        if escalation is None or not 0 <= index < len(escalation.attempts):
            return {}
        return EscalationRef(escalation.seq, escalation.attempts[index].number_index).query()

    def stuck(self, attempt: Attempt | EscalationAttempt, status: str) -> str | None:
        if status:
            return None  # ringing, or a person hearing the whisper
        # Placed, but its call SID was never recorded and nothing was heard from it since.
        recent = self.calls.now() - attempt.started_at < RING_TIMEOUT_S + WATCHDOG_DELAY_S
        return None if recent else "lost"


class Escalations:
    """The bounce-back's operations.

    Args:
        service: the call flow's collaborators (the transfer service).
        watchdog: schedules the watchdog job.
    """

    def __init__(self, service: TransferService, watchdog: Watchdog) -> None:
        self.service, self.watchdog = service, watchdog
        self.line = PsapLine(service)
        self.dialer = Dialer(service, self.line)

    # -- asking for 911 ----------------------------------------------------------------

    def request(
        self, transfer_id: str, by: str, *, center_id: str | None = None, counselor_sid: str = ""
    ) -> Start | None:
        """Start an escalation and ring the first number now.

        Args:
            transfer_id: the transfer.
            by: "key" or "api".
            center_id: the asking center (API): it must be the one the caller is with.
            counselor_sid: the asking counselor's leg (key): it must be the accepted one.

        Returns:
            None for an unknown transfer; else what became of the request (`Start`).
        """
        start = partial(_start, by=by, center_id=center_id, counselor_sid=counselor_sid)

        def start_and_plan(transfer: Transfer, notes: Notes) -> tuple[Start, Dial | None]:
            # One change for both: the first number is chosen with the request itself.
            result = start(transfer, notes, has_numbers=bool(self.line.numbers(transfer)))
            dial = self.line.plan(transfer, notes, 0) if result == Start.STARTED else None
            return result, dial

        done = self.service.change(transfer_id, start_and_plan)
        if done is None:
            return None
        transfer, (result, dial) = done
        if dial is not None:
            self.dialer.follow(transfer, dial)
        if result == Start.STARTED:
            # Enqueueing the watchdog costs several Redis round trips: after the answer too,
            # behind the call to 911, which must not wait for it.
            self.service.after(partial(self.watchdog.schedule, transfer_id))
        elif result == Start.IN_PROGRESS:
            self.service.after(partial(self._look_again, transfer))
        return result

    def _look_again(self, transfer: Transfer) -> None:
        """A second request while 911 is being called: look at the leg being rung, as the
        watchdog would. With no worker running, a lost status callback would otherwise
        leave the escalation on a leg that ended long ago, and the counselor asking again
        would only hear that 911 is already being called."""
        escalation = transfer.escalation
        if escalation is None or escalation.status != EscalationStatus.DIALING:
            return
        try:
            self.dialer.check_leg(transfer)
        except (TelephonyError, StateUnavailable):
            log.warning("could not look at the escalation leg of %s", transfer.id)

    def counselor_menu(
        self, transfer_id: str, index: int, form: Mapping[str, str]
    ) -> VoiceResponse:
        """The counselor's key in the * menu: 9 escalates; then back to the caller's room."""
        room, links = f"transfer-{transfer_id}", self.service.links
        if form.get("Digits") == "9":
            try:
                result = self.request(transfer_id, "key", counselor_sid=form.get("CallSid", ""))
            except StateUnavailable:
                log.exception("escalation of %s without state", transfer_id)
                result = None
            if result == Start.NOT_CONNECTED:
                # A counselor in the menu had the caller: the caller has left since.
                return twiml.goodbye(twiml.CALL_ENDED)
            message = MENU_MESSAGES.get(result, NOT_CALLED) if result else NOT_CALLED
            return twiml.counselor_joins(links, transfer_id, index, room, message)
        try:
            transfer = self.service.store.get(transfer_id)
        except StateUnavailable:
            transfer = None  # unknown: back to the caller's room, as before the menu
        if transfer is not None and transfer.status == TransferStatus.ENDED:
            # The caller left while the counselor was in the menu: no room to go back to.
            return twiml.goodbye(twiml.CALL_ENDED)
        message = "Returning you to the caller."
        return twiml.counselor_joins(links, transfer_id, index, room, message)

    # -- the PSAP's leg ------------------------------------------------------------------

    def leg_status(self, transfer_id: str, index: int, form: Mapping[str, str]) -> None:
        """An escalation leg's status callback: a final status moves to the next number."""
        self.dialer.leg_status(transfer_id, index, form)

    def whisper(
        self,
        transfer_id: str,
        index: int,
        form: Mapping[str, str],
        ref: EscalationRef = UNKNOWN_REF,
    ) -> VoiceResponse:
        """A PSAP line answered: a machine is hung up on, a person hears the whisper."""
        links, query = self.service.links, ref.query()
        machine = form.get("AnsweredBy", "").startswith(("machine", "fax"))
        try:
            answer, transfer = self.dialer.answer(transfer_id, index, form)
        except StateUnavailable:
            # 911 is calling back for a caller with a counselor: never turned away for
            # want of Redis; the whisper says less.
            log.exception("escalation whisper for %s without state", transfer_id)
            return twiml.escalation_whisper(links, transfer_id, index, GENERIC_WHISPER, 0, query)
        if transfer is None and not machine:  # the state is gone (Redis restarted empty)
            self.service.counselors.state_lost(transfer_id, index, "escalation-whisper")
            return twiml.escalation_whisper(links, transfer_id, index, GENERIC_WHISPER, 0, query)
        if answer == Answer.STALE or transfer is None:
            return twiml.goodbye(NO_LONGER_WAITING)
        if answer == Answer.MACHINE:
            return twiml.goodbye("")
        text = self.whisper_text(transfer)
        return twiml.escalation_whisper(links, transfer_id, index, text, 0, query)

    def whisper_text(self, transfer: Transfer) -> str:
        """Who asks for 911, where the caller is, and the number to call them back on."""
        accepted = transfer.accepted()
        center = self.service.router.tables.centers.get(accepted.center_id if accepted else "")
        number = twiml.spoken_number(self.service.unseal(transfer.callback_sealed))
        location = self.service.unseal(transfer.location_sealed)
        return " ".join(
            [
                f"Escalation from 9 8 8: {center.name if center else 'a 9 8 8 center'}.",
                f"Caller in {transfer.county_name or 'an unknown location'}.",
                *([f"Location: {location}."] if location else []),
                f"Callback number {number}." if number else "Callback number not given.",
                "Press 1 to join.",
            ]
        )

    def whisper_answer(
        self,
        transfer_id: str,
        index: int,
        form: Mapping[str, str],
        repeat: int,
        ref: EscalationRef = UNKNOWN_REF,
    ) -> VoiceResponse:
        """The 911 call-taker's key: 1 joins; anything else replays once, then gives up."""
        links, room, query = self.service.links, f"transfer-{transfer_id}", ref.query()
        if form.get("Digits") == "1":
            try:
                done = self.service.change(transfer_id, lambda t, n: self._joined(t, n, index))
            except StateUnavailable:
                # A 911 call-taker pressed 1 for a caller in this room: let them in.
                log.exception("escalation join for %s without state", transfer_id)
                return twiml.psap_joins(links, transfer_id, index, room)
            if done is None:
                # The state is gone: join, then ask Twilio whether the caller is there.
                sid = form.get("CallSid", "")
                self.service.after(partial(self._joined_unrecorded, transfer_id, index, sid, ref))
                return twiml.psap_joins(links, transfer_id, index, room)
            if not done[1]:
                return twiml.goodbye(NO_LONGER_WAITING)
            return twiml.psap_joins(links, transfer_id, index, room)
        if repeat >= 1:
            self.dialer.end(transfer_id, index, form.get("CallSid", ""), "no-key")
            return twiml.goodbye("No key was pressed. Another line will be called.")
        transfer = self.service.store.get(transfer_id)
        if transfer is None:  # the state is gone: the generic whisper again
            return twiml.escalation_whisper(links, transfer_id, index, GENERIC_WHISPER, 1, query)
        if self.dialer.open_attempt(transfer, index, "") is None:
            return twiml.goodbye(NO_LONGER_WAITING)
        text = self.whisper_text(transfer)
        return twiml.escalation_whisper(links, transfer_id, index, text, repeat + 1, query)

    def _joined_unrecorded(
        self, transfer_id: str, index: int, call_sid: str, ref: EscalationRef
    ) -> None:
        """A 911 line pressed 1 after the live state was lost: it is in the caller's room
        unless Twilio says that room has ended (then it is sent away), so its answer is
        recorded under the keys its URL carries; the record must not say 911 never
        answered."""
        room = f"transfer-{transfer_id}"
        if self.service.counselors.room_checked(transfer_id, room, call_sid) is False:
            return
        if not ref.seq:
            return  # a leg rung before its URLs carried the escalation: nothing to key it by
        self.service.emit(
            transfer_id,
            EventKind.ESCALATION_ANSWERED,
            f"{transfer_id}:escalation:{ref.seq}:answered",
            number_index=ref.number_index,
            attempt=index,
            status="joined",
        )

    def psap_done(self, transfer_id: str, index: int, form: Mapping[str, str]) -> VoiceResponse:
        """The 911 call-taker's `<Dial>` into the room ended. Only their 1 put them there, so
        a join the state missed (Redis out of reach as they pressed it and joined) is
        recorded now: the record must not say 911 never answered."""
        sid = form.get("CallSid", "")
        try:
            self.service.change(transfer_id, lambda t, n: _joined_late(t, n, index, sid))
        except StateUnavailable:
            log.warning("could not check the escalation join of %s", transfer_id)
        if form.get("CallStatus") in FINAL_CALL_STATUSES:
            return twiml.empty()
        return twiml.goodbye("The 9 8 8 call has ended. Thank you.")

    def _joined(self, transfer: Transfer, notes: Notes, index: int) -> bool:
        attempt = self.dialer.open_attempt(transfer, index, "")
        escalation = transfer.escalation
        if attempt is None or escalation is None or escalation.status != EscalationStatus.DIALING:
            return False
        if transfer.status != TransferStatus.CONNECTED:
            return False
        assert isinstance(attempt, EscalationAttempt)
        move(attempt, AttemptStatus.JOINED)
        move(escalation, EscalationStatus.JOINED)
        notes.add(
            EventKind.ESCALATION_ANSWERED,
            _key(escalation, "answered"),
            psap_id=transfer.psap_id,
            number_index=attempt.number_index,
            attempt=index,
            status="joined",
        )
        return True

    # -- the watchdog --------------------------------------------------------------------

    def check(self, transfer_id: str) -> Check:
        """Move a stuck transfer on, while it rings centers (`check_dialing`, after the
        deadline) or 911 (the bounce-back); schedule the next check while it is not settled.

        Raises:
            TelephonyError, StateUnavailable: the job fails and RQ retries it.
        """
        transfer = self.service.store.get(transfer_id)
        if transfer is None:
            return Check.GONE
        if transfer.status == TransferStatus.DIALING:
            found = self.service.check_dialing(transfer)
            # Counted from the deadline: registration may be long before the call arrived.
            since = transfer.deadline_at or transfer.created_at
            if found == Check.IN_FLIGHT and self.service.now() - since < WATCH_FOR_S:
                self.watchdog.schedule(transfer_id)
            return found
        escalation = transfer.escalation
        if escalation is None or escalation.status != EscalationStatus.DIALING:
            return Check.SETTLED
        found = self.dialer.check_leg(transfer)
        transfer = self.service.store.get(transfer_id)
        escalation = transfer.escalation if transfer else None
        unsettled = escalation is not None and escalation.status == EscalationStatus.DIALING
        if unsettled and escalation and self.service.now() - escalation.requested_at < WATCH_FOR_S:
            self.watchdog.schedule(transfer_id)
        return found


# -- pure changes to a transfer (run inside TransferStore.update) -------------------------


def _joined_late(transfer: Transfer, notes: Notes, index: int, sid: str) -> None:
    """Record 911's answer from a leg that was in the room, if nothing recorded it."""
    escalation = transfer.escalation
    if escalation is None or escalation.status == EscalationStatus.JOINED or not sid:
        return
    attempts = escalation.attempts
    if not 0 <= index < len(attempts) or attempts[index].call_sid != sid:
        return
    answered = _key(escalation, "answered")
    if any(step.get("kind") == EventKind.ESCALATION_ANSWERED.value for step in transfer.history):
        return
    notes.add(
        EventKind.ESCALATION_ANSWERED,
        answered,
        psap_id=transfer.psap_id,
        number_index=attempts[index].number_index,
        attempt=index,
        status="joined",
    )


def _key(escalation: Escalation, step: str) -> str:
    return f"escalation:{escalation.seq}:{step}"


def _dialed(notes: Notes, index: int, attempt: EscalationAttempt, status: str, step: str) -> None:
    escalation = notes.transfer.escalation
    assert escalation is not None
    notes.add(
        EventKind.ESCALATION_DIALED,
        _key(escalation, f"{step}:{index}"),
        psap_id=notes.transfer.psap_id,
        number_index=attempt.number_index,
        attempt=index,
        status=status,
    )


def _start(
    transfer: Transfer,
    notes: Notes,
    *,
    by: str,
    center_id: str | None,
    counselor_sid: str,
    has_numbers: bool,
) -> Start:
    accepted = transfer.accepted()
    if center_id is not None and not transfer.accepted_by(center_id):
        tried = any(a.center_id == center_id for a in transfer.attempts)
        return Start.NOT_CONNECTED if tried and accepted is None else Start.FORBIDDEN
    if counselor_sid and (accepted is None or accepted.call_sid != counselor_sid):
        return Start.FORBIDDEN
    if transfer.status != TransferStatus.CONNECTED or accepted is None:
        return Start.NOT_CONNECTED
    previous = transfer.escalation
    if previous is not None and previous.status == EscalationStatus.DIALING:
        return Start.IN_PROGRESS
    if previous is not None and previous.status == EscalationStatus.JOINED:
        return Start.JOINED
    if not has_numbers:
        return Start.NO_NUMBERS
    seq = previous.seq + 1 if previous else 1
    transfer.escalation = Escalation(seq, by, notes.at)
    notes.add(
        EventKind.ESCALATION_REQUESTED,
        _key(transfer.escalation, "requested"),
        psap_id=transfer.psap_id,
        center_id=accepted.center_id,
        by=by,
        status="requested",
    )
    return Start.STARTED


def _plan(transfer: Transfer, notes: Notes, index: int, count: int) -> Dial | None:
    """The next attempt (Dial(index), its number is the attempt's), a failed escalation
    (Dial()), or None (nothing to do)."""
    escalation = transfer.escalation
    if escalation is None or escalation.status != EscalationStatus.DIALING:
        return None
    if len(escalation.attempts) != index:
        return None  # someone else already moved it on
    if transfer.status != TransferStatus.CONNECTED:
        move(escalation, EscalationStatus.CANCELED)
        return None
    if _give_up(escalation, notes.at, index, count):
        move(escalation, EscalationStatus.FAILED)
        notes.add(
            EventKind.ESCALATION_FAILED,
            _key(escalation, "failed"),
            psap_id=transfer.psap_id,
            number_index=(index - 1) % count if count else -1,
            attempts=index,
            status="failed",
        )
        return Dial(notice=_notice(transfer, escalation, Notice.UNREACHED, notes.at))
    attempt = EscalationAttempt(index % count, started_at=notes.at)
    escalation.attempts.append(attempt)
    _dialed(notes, index, attempt, "ringing", "dial")
    if index == count * TELL_AFTER_ROUNDS:
        return Dial(index, notice=_notice(transfer, escalation, Notice.STILL_CALLING, notes.at))
    return Dial(index)


def _notice(
    transfer: Transfer, escalation: Escalation, notice: Notice, now: float
) -> Notice | None:
    """A notice for the counselor: now, or kept until they are back in the room (an
    announcement to a counselor in the * menu would not reach them)."""
    away = transfer.counselor_away_since
    if away is not None and now - away < MENU_AWAY_S:
        escalation.notice = notice.value
        return None
    return notice


def _give_up(escalation: Escalation, now: float, index: int, count: int) -> bool:
    """No number to call, MAX_ROUNDS rounds or GIVE_UP_S already, or a whole round in which
    Twilio placed no call at all (refused, or out of reach): another would only repeat it."""
    if count == 0 or index >= count * MAX_ROUNDS or now - escalation.requested_at >= GIVE_UP_S:
        return True
    last_round = escalation.attempts[-count:] if index >= count else []
    return bool(last_round) and all(a.result == "refused" for a in last_round)
