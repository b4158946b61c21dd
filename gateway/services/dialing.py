"""The one dialing mechanism: ring an ordered list of lines until a person takes the call.

Used twice with the same rules: for the caller's 988 centers (services/centers.py) and for
the PSAP's lines when a counselor brings 911 back (services/escalation.py). A `Line` says
what differs: which number comes next (its plan), how long it rings, and what each result
records. `Dialer` does the rest, identically for both:

- ring with answering machine detection: the leg's answer webhook is its whisper, and a
  machine is hung up on and counts as a failed attempt;
- a person hears the whisper, then accepts or declines (the line's own keys);
- each leg's status callback (no-answer after the ring timeout, busy, failed) ends its
  attempt and rolls over to the next line;
- when the caller leaves, every open leg is cancelled (`fail_open` in the domain);
- the lost-callback watchdog (`check_leg`): a leg whose callback never came is asked
  about, and the step its callback would have taken is taken.

Every change is computed inside the live state's compare-and-set (`Calls.change`); the
REST request it decides on goes out afterwards (`Calls.after`), so a repeated or late
webhook that changes nothing also does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, TypeVar

from gateway.adapters import twiml
from gateway.adapters.connections import StateUnavailable
from gateway.adapters.live_state import TransferStore
from gateway.adapters.records import TransferRecorder
from gateway.adapters.store.privacy import Cipher
from gateway.domain.events import Event, EventKind, EventSink, Scalar
from gateway.domain.transfer import (
    OPEN,
    Answer,
    Attempt,
    AttemptStatus,
    Check,
    EscalationAttempt,
    Notes,
    Notice,
    Transfer,
    move,
    still_open,
)
from gateway.settings import FlowConfig
from gateway.telephony import Leg, Telephony, TelephonyError
from routing.engine import Router

log = logging.getLogger(__name__)
T = TypeVar("T")
Clock = Callable[[], datetime]
Work = Callable[[], None]

FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# Results that end an attempt whose leg may still be on its way (see `Dialer._record_sid`).
ENDED_UNPLACED = frozenset({"caller-left", "deadline"})


def utc_now() -> datetime:
    return datetime.now(UTC)


def run_now(work: Work) -> None:
    """The scheduler outside the web app: do the work at once."""
    work()


class Calls:
    """What every step of the call flow works with. Collaborators are passed in, never
    looked up.

    Args:
        router: the routing core (in-memory tables).
        telephony: the telephony port (every Twilio REST request).
        sink: where events go.
        store: live transfer state in Redis.
        flow: call-flow settings (gateway number, pending window).
        links: absolute webhook URLs.
        deadline_s: the overall deadline from the caller's arrival to a counselor.
        clock: the time (tests give the simulator's virtual clock).
        recorder: where each registered transfer's protected record goes (the store).
        after: schedules the REST requests a webhook decides on; the web app sends them
            after its response (gateway.web.afterwards), elsewhere they run at once.
        cipher: seals the caller's location in the live state (ENCRYPTION_KEY); without
            one the location is not kept, and the escalation whisper names the county.
    """

    def __init__(
        self,
        router: Router,
        telephony: Telephony,
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
        self.router, self.telephony, self.sink, self.store = router, telephony, sink, store
        self.flow, self.links, self.deadline_s, self.clock = flow, links, deadline_s, clock
        self.recorder, self.after, self.cipher = recorder, after, cipher
        # Schedules the watchdog job for a transfer, `seconds` from now (the app wires in
        # adapters/watchdog.py; gateway.jobs.watch checks the centers' phase and 911's).
        self.watch: Callable[[str, float], None] = lambda transfer_id, seconds: None

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

    def hang_up(self, call_sid: str, answered: bool) -> None:
        """Cancel a ringing leg or end an answered one (best effort)."""
        try:
            self.telephony.hang_up(call_sid, answered=answered)
        except TelephonyError:
            log.warning("could not end leg %s; its whisper will refuse it", call_sid)

    def announce(self, transfer: Transfer, call_sid: str, endpoint: str) -> None:
        """Play the document of the view `endpoint` to one leg in the transfer's room (afterwards).

        Best effort: a failed announcement is logged and changes nobody's connection.
        """
        self.after(
            partial(self._announce, transfer.id, transfer.conference_sid, call_sid, endpoint)
        )

    def _announce(
        self, transfer_id: str, conference_sid: str, call_sid: str, endpoint: str
    ) -> None:
        try:
            self.telephony.announce(conference_sid, call_sid, self.links.url(endpoint))
        except TelephonyError:
            log.warning("could not announce %s in the room of %s", endpoint, transfer_id)


@dataclass(frozen=True)
class Dial:
    """What a line's plan decided: ring attempt `index` on `to` for `timeout_s`, or ring
    nothing (index -1: the list is exhausted); `notice`: tell the counselor now."""

    index: int = -1
    to: str = ""
    timeout_s: int = 0
    notice: Notice | None = None


class Line(Protocol):
    """What a dialer rings, and what each step records for it.

    Attributes:
        name: for the logs ("center", "escalation").
        key: the webhooks' query parameter naming the attempt.
        answer_endpoint, status_endpoint: the leg's whisper and status callback webhooks.
        refused: the result of an attempt Twilio would not place.
    """

    name: str
    key: str
    answer_endpoint: str
    status_endpoint: str
    refused: str

    def attempts(self, transfer: Transfer) -> Sequence[Attempt | EscalationAttempt]:
        """The attempts made so far, in order."""

    def is_current(self, transfer: Transfer, index: int) -> bool:
        """Whether attempt `index` is the one the transfer is waiting on."""

    def plan(self, transfer: Transfer, notes: Notes, index: int) -> Dial | None:
        """Start attempt `index` (Dial), stop (Dial()), or nothing to do (None)."""

    def planned(self, transfer: Transfer, dial: Dial, redirect_caller: bool) -> None:
        """What follows a plan besides ringing (giving the caller back, telling the
        counselor)."""

    def ended(self, notes: Notes, index: int, attempt: Attempt | EscalationAttempt) -> None:
        """Record an attempt that just failed (its result is set)."""

    def answered(self, notes: Notes, index: int, attempt: Attempt | EscalationAttempt) -> None:
        """Record a person answering attempt `index`."""

    def query(self, transfer: Transfer, index: int) -> dict[str, int]:
        """What else the leg's webhook URLs carry for attempt `index` (ids, never a number)."""

    def stuck(self, attempt: Attempt | EscalationAttempt, status: str) -> str | None:
        """The watchdog's verdict on an open attempt whose leg is not over (Twilio's status,
        "" when its call SID is unknown): the result to end it with, or None to wait."""


class Dialer:
    """Rings a `Line`'s numbers one after the other, on the call flow's collaborators."""

    def __init__(self, calls: Calls, line: Line) -> None:
        self.calls, self.line = calls, line

    def dial_from(
        self, transfer_id: str, index: int, *, redirect_caller: bool = True
    ) -> Transfer | None:
        """Choose attempt `index` now and ring it afterwards, or stop.

        Args:
            redirect_caller: whether stopping must redirect the caller's leg; False when
                the caller's own webhook is answering and says where to go.
        """
        done = self.calls.change(transfer_id, lambda t, n: self.line.plan(t, n, index))
        if done is None:
            return None
        transfer, dial = done
        if dial is not None:
            self.follow(transfer, dial, redirect_caller=redirect_caller)
        return transfer

    def follow(self, transfer: Transfer, dial: Dial, *, redirect_caller: bool = True) -> None:
        """Carry out a plan: what the line does besides, then the ring, afterwards."""
        self.line.planned(transfer, dial, redirect_caller)
        if dial.index >= 0:
            self.calls.after(partial(self._ring, transfer, dial))

    def _ring(self, transfer: Transfer, dial: Dial) -> None:
        """Place the planned call; when Twilio refuses it, on to the next line."""
        if not self._place(transfer, dial):
            # The caller's TwiML has long been answered: stopping means redirecting.
            self.dial_from(transfer.id, dial.index + 1)

    def _place(self, transfer: Transfer, dial: Dial) -> bool:
        """Ring one line. False when Twilio refused the request."""
        links = self.calls.links
        query: dict[str, str | int] = {"t": transfer.id, self.line.key: dial.index}
        query.update(self.line.query(transfer, dial.index))
        leg = Leg(
            to=dial.to,
            caller_id=self.calls.flow.gateway_number,
            answer_url=links.url(self.line.answer_endpoint, **query),
            status_url=links.url(self.line.status_endpoint, **query),
            fallback_url=links.url("voice.center_fallback"),
            timeout_s=dial.timeout_s,
        )
        try:
            sid = self.calls.telephony.ring(leg)
        except TelephonyError:
            # Refused, or no answer from Twilio (then it may ring: its webhooks name an
            # attempt already over, and are ignored). The error's text may name numbers.
            log.warning("%s attempt %s of %s not placed", self.line.name, dial.index, transfer.id)
            refused = self.line.refused
            self.calls.change(transfer.id, lambda t, n: self.close(t, n, dial.index, "", refused))
            return False
        try:
            done = self.calls.change(transfer.id, lambda t, n: self._record_sid(t, dial.index, sid))
        except StateUnavailable:
            # The call is placed; its webhooks carry the transfer id and attempt anyway.
            log.exception("could not record the %s leg of %s", self.line.name, transfer.id)
            return True
        if done is not None and done[1]:
            self.calls.hang_up(sid, answered=False)
        return True

    def leg_status(self, transfer_id: str, index: int, form: Mapping[str, str]) -> None:
        """A leg's status callback: only a final status moves the transfer on."""
        final = final_leg_result(form)
        if final is not None:
            self.end(transfer_id, index, *final)

    def end(self, transfer_id: str, index: int, sid: str, result: str) -> None:
        """End attempt `index` with `result`, and ring the next line if it was current."""
        done = self.calls.change(transfer_id, lambda t, n: self.close(t, n, index, sid, result))
        if done is None and result != "no-key":
            self._lost(transfer_id, index, result)
        elif done is not None and done[1]:
            self.dial_from(transfer_id, index + 1)

    def _lost(self, transfer_id: str, index: int, result: str) -> None:
        """A line that failed (busy, no answer) after the live state was lost (Redis
        restarted empty): the next one cannot be rung, for the plan was in the lost state.
        The record says so; the caller hears that 988 was not reached from the wait message
        (`TransferService.waiting`). A leg that merely hung up ("no-key") was recorded by
        its whisper."""
        step = f"{self.line.name}-status"
        key = f"{transfer_id}:state-lost:{step}:{index}"
        self.calls.emit(
            transfer_id,
            EventKind.STATE_LOST,
            key,
            step=step,
            detail=f"attempt-{index}",
            result=result,
        )

    def answer(
        self, transfer_id: str, index: int, form: Mapping[str, str]
    ) -> tuple[Answer, Transfer | None]:
        """A leg answered (its whisper webhook): a machine is hung up on and the next line
        rung; a person is recorded as answering.

        Raises:
            StateUnavailable: the live state is out of reach.
        """
        answered_by = form.get("AnsweredBy", "unknown")
        machine = answered_by.startswith("machine") or answered_by == "fax"
        sid = form.get("CallSid", "")
        done = self.calls.change(
            transfer_id, lambda t, n: self._answered(t, n, index, sid, machine=machine)
        )
        if done is None:
            return Answer.STALE, None
        if done[1] == Answer.MACHINE:
            self.dial_from(transfer_id, index + 1)
        return done[1], done[0]

    def check_leg(self, transfer: Transfer) -> Check:
        """The watchdog: move on a line whose status callback was lost.

        The last attempt's leg is asked about: ended, it is recorded as its callback would
        have been; still open, the line decides (`Line.stuck`) whether to wait or to end
        it. An attempt already decided whose next step never came (a crash between two
        steps) gets that step now.

        Raises:
            TelephonyError, StateUnavailable: the job fails and RQ retries it.
        """
        attempts = self.line.attempts(transfer)
        index = len(attempts) - 1
        attempt = attempts[index] if attempts else None
        if attempt is None or attempt.status not in OPEN:
            self.dial_from(transfer.id, index + 1)
            return Check.ROLLED_OVER
        sid = attempt.call_sid
        status = self.calls.telephony.leg_status(sid) if sid else ""
        if status in FINAL_CALL_STATUSES:
            self.leg_status(transfer.id, index, {"CallStatus": status, "CallSid": sid})
            return Check.ROLLED_OVER
        result = self.line.stuck(attempt, status)
        if result is None:
            return Check.IN_FLIGHT
        if status:
            self.calls.hang_up(sid, answered=False)
        self.end(transfer.id, index, sid, result)
        return Check.ROLLED_OVER

    # -- pure changes (run inside TransferStore.update) ---------------------------------

    def open_attempt(
        self, transfer: Transfer, index: int, sid: str
    ) -> Attempt | EscalationAttempt | None:
        """Attempt `index` if it is still open and `sid` (when given) is its leg."""
        attempts = self.line.attempts(transfer)
        return still_open(attempts[index], sid) if 0 <= index < len(attempts) else None

    def close(self, transfer: Transfer, notes: Notes, index: int, sid: str, result: str) -> bool:
        """Close an open attempt with `result`. True when the next line should be rung."""
        attempt = self.open_attempt(transfer, index, sid)
        if attempt is None:
            return False  # a duplicate or late callback: already decided
        move(attempt, AttemptStatus.FAILED)
        attempt.result = result
        self.line.ended(notes, index, attempt)
        return self.line.is_current(transfer, index)

    def _answered(
        self, transfer: Transfer, notes: Notes, index: int, sid: str, *, machine: bool
    ) -> Answer:
        attempt = self.open_attempt(transfer, index, sid)
        if attempt is None or not self.line.is_current(transfer, index):
            return Answer.STALE
        if machine:
            self.close(transfer, notes, index, sid, "machine")
            return Answer.MACHINE
        if attempt.status == AttemptStatus.DIALING:
            move(attempt, AttemptStatus.ANSWERED)
            self.line.answered(notes, index, attempt)
        return Answer.HUMAN

    def _record_sid(self, transfer: Transfer, index: int, sid: str) -> bool:
        """Record the leg placed for an attempt. True when the attempt ended while the REST
        request was out (the caller left, the deadline passed): nobody could cancel the
        leg then, since its SID was not known, so it must be hung up now."""
        attempts = self.line.attempts(transfer)
        attempt = attempts[index] if 0 <= index < len(attempts) else None
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
