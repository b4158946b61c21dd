"""The caller's 988 centers: which one is rung next, and the counselor's side of the call.

`CenterLine` is the dial plan as the dialer (services/dialing.py) rings it: centers in the
routing decision's order, skipping those closed since routing, each for its own ring
timeout but never past the transfer's deadline; when none is left, or no time, the caller
is given back to 911 (`returned`). `Counselors` answers the counselor's leg: the whisper
(who, where, how urgent, which language), their key (1 accepts, 2 declines, 3 replays with
the 911 summary), and the * menu, out of the caller's room and back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from twilio.twiml.voice_response import VoiceResponse

from gateway.adapters import twiml
from gateway.adapters.connections import StateUnavailable
from gateway.domain.events import EventKind
from gateway.domain.transfer import (
    GONE,
    NOTICE_HOLDS,
    OPEN,
    Answer,
    Attempt,
    AttemptStatus,
    EscalationAttempt,
    Join,
    JoinKind,
    Notes,
    Notice,
    Transfer,
    TransferStatus,
    move,
)
from gateway.services.dialing import FINAL_CALL_STATUSES, Dial, Dialer
from gateway.telephony import TelephonyError

if TYPE_CHECKING:
    from gateway.services.dialing import Calls

log = logging.getLogger(__name__)

# Ringing a center for less than this is pointless: the deadline is as good as reached.
MIN_RING_S = 10
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}
NO_LONGER_WAITING = "This transfer is no longer waiting. Thank you."


class CenterLine:
    """The transfer's dial plan, as a `Line` for the dialer."""

    name, key, refused = "center", "a", "failed"
    answer_endpoint, status_endpoint = "voice.whisper", "voice.center_status"

    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def attempts(self, transfer: Transfer) -> list[Attempt]:
        return transfer.attempts

    def is_current(self, transfer: Transfer, index: int) -> bool:
        return transfer.status == TransferStatus.DIALING and transfer.current == index

    def plan(self, transfer: Transfer, notes: Notes, index: int) -> Dial | None:
        """The next open center to ring, or the caller back to 911 (Dial())."""
        if transfer.status != TransferStatus.DIALING or len(transfer.attempts) != index:
            return None  # someone else already moved this transfer on
        previous = transfer.attempt(index - 1)
        index = self._skip_closed(transfer, notes, index)
        remaining = (transfer.deadline_at or notes.at) - notes.at
        if index >= len(transfer.dial_plan):
            return give_back(transfer, notes, "no-center-answered")
        if remaining < MIN_RING_S:
            return give_back(transfer, notes, "deadline")
        center = self.calls.router.tables.centers[transfer.dial_plan[index]]
        if previous is not None:
            notes.add(
                EventKind.ROLLOVER,
                f"rollover:{index}",
                from_center_id=previous.center_id,
                to_center_id=center.id,
                reason=previous.result,
            )
        transfer.attempts.append(Attempt(center.id, started_at=notes.at))
        transfer.current = index
        notes.add(EventKind.DIAL_ATTEMPT, f"dial:{index}", center_id=center.id, attempt=index)
        return Dial(index, center.number, min(center.ring_timeout_s, int(remaining)))

    def _skip_closed(self, transfer: Transfer, notes: Notes, index: int) -> int:
        """Pass over centers closed by their hours since routing; the next open one's index."""
        at, centers = datetime.fromtimestamp(notes.at, UTC), self.calls.router.tables.centers
        while index < len(transfer.dial_plan):
            center = centers.get(transfer.dial_plan[index])
            if center is not None and center.is_open(at):
                return index
            center_id = transfer.dial_plan[index]
            transfer.attempts.append(Attempt(center_id, AttemptStatus.FAILED, "closed"))
            notes.add(
                EventKind.DIAL_RESULT, f"result:{index}", center_id=center_id, status="closed"
            )
            index += 1
        return index

    def planned(self, transfer: Transfer, dial: Dial, redirect_caller: bool) -> None:
        if dial.index < 0 and redirect_caller:
            self.calls.after(partial(self.redirect_caller, transfer))

    def ended(self, notes: Notes, index: int, attempt: Attempt | EscalationAttempt) -> None:
        _dial_result(notes, f"result:{index}", attempt, attempt.result)

    def answered(self, notes: Notes, index: int, attempt: Attempt | EscalationAttempt) -> None:
        _dial_result(notes, f"answered:{index}", attempt, "answered")

    def query(self, transfer: Transfer, index: int) -> dict[str, int]:
        return {}

    def stuck(self, attempt: Attempt | EscalationAttempt, status: str) -> str | None:
        # Past the deadline (the transfer service checks): a counselor hearing the whisper
        # decides; a leg still ringing, or never heard of, is over.
        return None if status == "in-progress" else "deadline"

    def redirect_caller(self, transfer: Transfer) -> None:
        """The caller's leg hears that 988 was not reached, and stays with 911."""
        if not transfer.caller_sid:
            return
        try:
            url = self.calls.links.url("voice.returned", t=transfer.id)
            self.calls.telephony.redirect(transfer.caller_sid, url)
        except TelephonyError:
            # The caller's leg stays in the waiting room, still with 911: nothing is lost.
            log.warning("could not redirect the caller of %s", transfer.id)


def _dial_result(notes: Notes, key: str, attempt: Attempt | EscalationAttempt, status: str) -> None:
    assert isinstance(attempt, Attempt)
    notes.add(EventKind.DIAL_RESULT, key, center_id=attempt.center_id, status=status)


def give_back(transfer: Transfer, notes: Notes, reason: str) -> Dial:
    move(transfer, TransferStatus.RETURNED)
    transfer.outcome, transfer.current = f"returned:{reason}", -1
    notes.add(EventKind.RETURNED_TO_911, "returned", reason=reason)
    return Dial()


class Counselors:
    """The counselor's leg, from the whisper to the * menu."""

    def __init__(self, calls: Calls, dialer: Dialer) -> None:
        self.calls, self.dialer = calls, dialer

    def whisper(self, transfer_id: str, index: int, form: Mapping[str, str]) -> VoiceResponse:
        """A center's line answered: a machine is hung up on, a person hears the whisper."""
        links = self.calls.links
        try:
            answer, transfer = self.dialer.answer(transfer_id, index, form)
        except StateUnavailable:
            # Without state the counselor still hears enough to accept.
            log.exception("whisper for %s without state", transfer_id)
            return twiml.whisper(links, transfer_id, index, _generic_whisper(), 0)
        if transfer is None and not form.get("AnsweredBy", "").startswith(("machine", "fax")):
            # The state is gone (Redis restarted empty), not merely stale: the caller may
            # well be waiting in the room, so the counselor hears enough to accept.
            self.state_lost(transfer_id, index, "whisper")
            return twiml.whisper(links, transfer_id, index, _generic_whisper(), 0)
        if answer == Answer.STALE or transfer is None:
            return twiml.goodbye(NO_LONGER_WAITING if transfer else "")
        if answer == Answer.MACHINE:
            return twiml.goodbye("")
        return twiml.whisper(links, transfer_id, index, self.whisper_text(transfer), 0)

    def whisper_text(self, transfer: Transfer, summary: bool = False) -> str:
        """What the counselor hears before deciding: who, where, how urgent, which language."""
        psap = self.calls.router.tables.psaps.get(transfer.psap_id or "")
        parts = [
            f"Transfer from 9 1 1: {psap.name if psap else 'a 9 1 1 center'}.",
            f"Caller in {transfer.county_name or 'an unknown location'}.",
            f"Risk {transfer.risk or 'not given'}.",
            f"Call type {(transfer.call_type or 'not given').replace('-', ' ')}.",
            f"Language {LANGUAGE_NAMES.get(transfer.language or 'en', transfer.language)}.",
        ]
        details = _details(
            self.calls.unseal(transfer.summary_sealed), self.calls.unseal(transfer.callback_sealed)
        )
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
            return self._accept(transfer_id, index, form.get("CallSid", ""))
        if digits == "2" or (repeat >= 1 and digits != "3"):
            return self._decline(transfer_id, index, "key-2" if digits == "2" else "no-key")
        transfer = self.calls.store.get(transfer_id)
        if transfer is None:  # the state is gone: the generic whisper again
            return twiml.whisper(self.calls.links, transfer_id, index, _generic_whisper(), 1)
        if transfer.status != TransferStatus.DIALING:
            return twiml.goodbye(NO_LONGER_WAITING)
        text = self.whisper_text(transfer, summary=digits == "3")
        return twiml.whisper(self.calls.links, transfer_id, index, text, repeat + 1)

    def _accept(self, transfer_id: str, index: int, sid: str) -> VoiceResponse:
        room = f"transfer-{transfer_id}"
        try:
            done = self.calls.change(transfer_id, lambda t, n: self._accepted(t, n, index))
        except StateUnavailable:
            # A person pressed 1 and the caller is waiting in this room: join them.
            log.exception("accept for %s without state", transfer_id)
            return twiml.counselor_joins(self.calls.links, transfer_id, index, room)
        if done is None:
            # The state is gone: join the room, then ask Twilio whether the caller is in it.
            self.state_lost(transfer_id, index, "accept")
            self.calls.after(partial(self.check_room, transfer_id, room, sid))
            return twiml.counselor_joins(self.calls.links, transfer_id, index, room)
        if not done[1]:
            return twiml.goodbye("The caller is no longer waiting. Thank you.")
        return twiml.counselor_joins(self.calls.links, transfer_id, index, room)

    def state_lost(self, transfer_id: str, index: int, step: str) -> None:
        """Say in the record that this step went on without the transfer's live state."""
        key = f"{transfer_id}:state-lost:{step}:{index}"
        self.calls.emit(
            transfer_id, EventKind.STATE_LOST, key, step=step, detail=f"attempt-{index}"
        )

    def check_room(self, transfer_id: str, room: str, counselor_sid: str) -> None:
        """A counselor sent without state into the caller's room: see `room_checked`."""
        self.room_checked(transfer_id, room, counselor_sid)

    def room_checked(self, transfer_id: str, room: str, counselor_sid: str) -> bool | None:
        """A counselor (or 911 line) sent without state into the caller's room: Twilio is
        the truth of whether the caller is there; if not, they hear that the call ended.

        Returns:
            Whether the room is open; None when Twilio could not be asked.
        """
        try:
            caller_there = self.calls.telephony.room_open(room)
        except TelephonyError:
            log.warning("could not ask about the room of %s", transfer_id)
            return None  # unknown: leave the counselor where the caller should be
        if not caller_there and counselor_sid:
            self.end_leg(transfer_id, counselor_sid)
        return caller_there

    def _accepted(self, transfer: Transfer, notes: Notes, index: int) -> bool:
        attempt = transfer.attempt(index)
        if self.dialer.open_attempt(transfer, index, "") is None or attempt is None:
            return False
        if transfer.status != TransferStatus.DIALING or transfer.current != index:
            return False
        move(attempt, AttemptStatus.ACCEPTED)
        move(transfer, TransferStatus.CONNECTED)
        transfer.outcome = "accepted"
        notes.add(EventKind.WHISPER_ACCEPTED, f"accepted:{index}", center_id=attempt.center_id)
        return True

    def _decline(self, transfer_id: str, index: int, reason: str) -> VoiceResponse:
        done = self.calls.change(transfer_id, lambda t, n: self._declined(t, n, index, reason))
        if done is None:
            # The state is gone: no plan to go on with; the caller hears from the wait
            # message that 988 was not reached.
            self.state_lost(transfer_id, index, "decline")
            return twiml.goodbye("Declined. Thank you.")
        if done[1]:
            self.dialer.dial_from(transfer_id, index + 1)
        return twiml.goodbye("Declined. The caller will be offered to the next center.")

    def _declined(self, transfer: Transfer, notes: Notes, index: int, reason: str) -> bool:
        attempt = transfer.attempt(index)
        if self.dialer.open_attempt(transfer, index, "") is None or attempt is None:
            return False
        notes.add(
            EventKind.WHISPER_DECLINED,
            f"declined:{index}",
            center_id=attempt.center_id,
            reason=reason,
        )
        result = "declined" if reason == "key-2" else reason
        return self.dialer.close(transfer, notes, index, "", result)

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
        counselor_sid = form.get("CallSid", "")
        transfer = self._in_the_room(transfer_id, counselor_sid)
        if transfer is None:
            # The state is gone: no menu (nothing to escalate from); back to the caller,
            # if Twilio says the room is still open.
            room = f"transfer-{transfer_id}"
            self.state_lost(transfer_id, index, "menu")
            self.calls.after(partial(self.check_room, transfer_id, room, counselor_sid))
            return twiml.counselor_joins(self.calls.links, transfer_id, index, room)
        accepted = transfer.accepted() if transfer is not None else None
        if (
            transfer is not None
            and transfer.status == TransferStatus.CONNECTED
            and accepted is not None
            and accepted.call_sid == counselor_sid
        ):
            self.calls.after(partial(self._stepped_out, transfer, counselor_sid))
            return twiml.counselor_menu(self.calls.links, transfer_id, index)
        return twiml.goodbye(twiml.CALL_ENDED)

    def _in_the_room(self, transfer_id: str, counselor_sid: str) -> Transfer | None:
        """The transfer as a counselor's `<Dial>` in its room ended: their accept and the
        hand-off are recorded now if the state missed them (`accept_unrecorded`)."""
        done = self.calls.change(transfer_id, lambda t, n: _handed_off_late(t, n, counselor_sid))
        return None if done is None else done[0]

    def _stepped_out(self, transfer: Transfer, counselor_sid: str) -> None:
        try:
            self.calls.change(transfer.id, lambda t, n: _away(t, counselor_sid, n.at))
        except StateUnavailable:
            log.warning("could not note the counselor of %s in the menu", transfer.id)
        if self.caller_still_there(transfer):
            # The counselor steps out of the room for a few seconds: the caller must not
            # wonder whether anyone is still there.
            self.calls.announce(transfer, transfer.caller_sid, "voice.announce_stay")
            return
        self.end_leg(transfer.id, counselor_sid)

    def joined(self, transfer_id: str, sid: str, form: Mapping[str, str]) -> None:
        """A leg joined a room of the transfer: the hand-off when it is the accepting
        counselor's first join."""
        done = self.calls.change(transfer_id, lambda t, n: _joined(t, n, sid, form))
        if done is not None:
            self._after_join(done[0], sid, done[1])

    def left(self, transfer_id: str, sid: str) -> None:
        """A leg left a room of the transfer: a counselor whose accept and join the state
        missed is recorded as handed off (`accept_unrecorded`) before their leg's end is
        taken for a whisper left unanswered."""
        self.calls.change(transfer_id, lambda t, n: _handed_off_late(t, n, sid))

    def _after_join(self, transfer: Transfer, sid: str, join: Join) -> None:
        if join.kind == JoinKind.HANDED_OFF:
            self.calls.announce(transfer, transfer.caller_sid, "voice.announce")
        elif join.kind == JoinKind.ALONE:
            self.calls.after(partial(self.alone, transfer, sid))
        elif join.notice is not None:
            self.calls.announce(
                transfer, sid, notice_endpoint(join.notice)
            )  # kept while in the menu

    def alone(self, transfer: Transfer, call_sid: str) -> None:
        """A leg joined another room than the one recorded for the caller: their room
        ended. Twilio is asked first, so a caller put back into a new room (whose join event
        is late) keeps the counselor or 911 line who just joined it."""
        if not self.caller_still_there(transfer):
            self.end_leg(transfer.id, call_sid)

    def end_leg(self, transfer_id: str, call_sid: str) -> None:
        """The caller has gone: a counselor or 911 line hears that the call ended, then
        hangs up."""
        try:
            self.calls.telephony.redirect(call_sid, self.calls.links.url("voice.call_ended"))
        except TelephonyError:
            # In the menu, their key is answered from the state, which says goodbye once
            # the caller's leaving is known; in a room, they are alone and may hang up.
            log.warning("could not end a leg of %s after its caller left", transfer_id)

    def caller_still_there(self, transfer: Transfer) -> bool:
        try:
            status = self.calls.telephony.leg_status(transfer.caller_sid)
        except TelephonyError:
            # Unknown: offer the menu; "return to the caller" is harmless either way.
            log.warning("could not fetch the caller's leg of %s", transfer.id)
            return True
        return status in {"in-progress", "ringing", "queued"}


NOTICE_ENDPOINTS = {
    Notice.UNREACHED: "voice.escalation_unreached",
    Notice.STILL_CALLING: "voice.escalation_still_calling",
}


def notice_endpoint(notice: Notice) -> str:
    """The view whose document says the notice."""
    return NOTICE_ENDPOINTS[notice]


def _details(summary: str, callback: str) -> list[tuple[str, str]]:
    """On 3 only: what 911 wrote, and the number to call the caller back on should the
    call drop (the counselor's phone shows the gateway's number, not the caller's)."""
    details: list[tuple[str, str]] = []
    if summary:
        details.append(("the 9 1 1 summary", f"Summary from 9 1 1: {_sentence(summary)}"))
    if callback:
        number = twiml.spoken_number(callback)
        details.append(("the callback number", f"Callback number {number}."))
    return details


def _sentence(text: str) -> str:
    """`text` ending as a sentence, so the voice pauses once after it."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _away(transfer: Transfer, counselor_sid: str, now: float) -> None:
    accepted = transfer.accepted()
    if accepted is not None and accepted.call_sid == counselor_sid:
        transfer.counselor_away_since = now


def _generic_whisper() -> str:
    return "Transfer from 9 1 1. Details are unavailable. Press 1 to accept, 2 to decline."


# -- joins into the caller's room (run inside TransferStore.update) ---------------------


def _joined(transfer: Transfer, notes: Notes, sid: str, form: Mapping[str, str]) -> Join:
    """Record the room. HANDED_OFF when this join is the accepting counselor's first; ALONE
    when a leg of the transfer joins a room that is not the caller's (`_outside_the_room`)."""
    room = form.get("ConferenceSid", "")
    if sid == transfer.caller_sid:
        transfer.conference_sid = room or transfer.conference_sid
        return Join()
    if _outside_the_room(transfer, sid, room):
        return Join(JoinKind.ALONE)
    accept_unrecorded(transfer, notes, sid)
    accepted = transfer.accepted()
    if accepted is None or accepted.call_sid != sid:
        return Join()
    if transfer.outcome == "handed-off":
        return _back_from_the_menu(transfer)
    transfer.outcome = "handed-off"
    transfer.conference_sid = room or transfer.conference_sid
    notes.add(EventKind.HANDOFF, "handoff", center_id=accepted.center_id)
    if transfer.status in GONE:
        # A join delivered after the caller's leave: in the caller's room it happened
        # before the room ended (the caller's leg ends it), so it is recorded as in order;
        # but there is nobody left to tell that 988 is connected.
        return Join()
    handed_off = transfer.conference_sid and transfer.caller_sid
    return Join(JoinKind.HANDED_OFF) if handed_off else Join()


def _handed_off_late(transfer: Transfer, notes: Notes, sid: str) -> None:
    """A counselor back from the caller's room whose accept and join were never recorded."""
    if accept_unrecorded(transfer, notes, sid):
        accepted = transfer.accepted()
        transfer.outcome = "handed-off"
        notes.add(EventKind.HANDOFF, "handoff", center_id=accepted.center_id if accepted else "")


def accept_unrecorded(transfer: Transfer, notes: Notes, sid: str) -> bool:
    """Record the accept of a counselor whose 1 the live state never learned.

    When Redis was out of reach as they pressed it (or answered), `_accept` still put them
    in the caller's room, and nothing else does: a leg of the current center in the room,
    or back from it (their `<Dial>` ended), is the proof of their 1. Without this, their
    hanging up would be taken for a whisper left unanswered: a false "no-key", and a second
    center rung after a caller who has just talked to a counselor (issue 11). The events
    carry the keys the usual path gives them, so one already written is not written twice.
    """
    attempt = transfer.attempt(transfer.current)
    if (
        transfer.status != TransferStatus.DIALING
        or attempt is None
        or not sid
        or attempt.call_sid != sid
        or attempt.status not in OPEN
    ):
        return False
    if attempt.status == AttemptStatus.DIALING:
        move(attempt, AttemptStatus.ANSWERED)
        _dial_result(notes, f"answered:{transfer.current}", attempt, "answered")
    move(attempt, AttemptStatus.ACCEPTED)
    move(transfer, TransferStatus.CONNECTED)
    transfer.outcome = "accepted"
    notes.add(
        EventKind.WHISPER_ACCEPTED, f"accepted:{transfer.current}", center_id=attempt.center_id
    )
    return True


def _back_from_the_menu(transfer: Transfer) -> Join:
    """The counselor is back in the caller's room, with a notice kept for them meanwhile
    if it still holds."""
    transfer.counselor_away_since = None
    escalation = transfer.escalation
    if escalation is None or not escalation.notice:
        return Join()
    kept, escalation.notice = escalation.notice, ""
    # Versions before the Notice enum kept the document's path ("/voice/escalation/unreached"):
    # its last segment is the notice, so a counselor in the menu across an upgrade still hears it.
    notice = next((n for n in Notice if n.value == kept.rsplit("/", 1)[-1]), None)
    if notice is None or escalation.status != NOTICE_HOLDS[notice]:
        return Join()
    return Join(JoinKind.BACK, notice)


def _outside_the_room(transfer: Transfer, sid: str, room: str) -> bool:
    """A counselor back from the menu, a counselor whose caller left between their 1 and
    their join, or a 911 line that pressed 1, joined another room than the caller's. Only
    the caller's leg ends that room, and a <Dial><Conference> to its name after it ended
    starts a new, empty one."""
    if not room or not transfer.conference_sid or room == transfer.conference_sid:
        return False
    accepted = transfer.accepted()
    if accepted is not None and accepted.call_sid == sid:
        return transfer.outcome == "handed-off" or transfer.status in GONE
    escalation = transfer.escalation
    return escalation is not None and any(a.call_sid == sid for a in escalation.attempts)
