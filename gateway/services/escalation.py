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
3. A watchdog job on the "escalations" RQ queue (`watch`) checks some seconds later whether
   the escalation is still stuck on a leg whose callback was lost, asks Twilio for that
   leg's status and moves on; then it checks again, until the escalation is settled.

With no worker alive, 1 and 2 still carry the whole escalation. The job takes only the
transfer id: the callback number stays in the live state (adapters/live_state.py). Events name
numbers by their index in [escalation, *alternates], never by the number.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import redis
from flask import Flask, current_app, has_app_context
from rq import Queue, Retry
from rq.serializers import JSONSerializer
from twilio.base.exceptions import TwilioException
from twilio.twiml.voice_response import VoiceResponse

from gateway.adapters import twiml
from gateway.adapters.live_state import (
    ATTEMPT_OPEN,
    CONNECTED,
    DIALING,
    ENDED,
    ESCALATION_CANCELED,
    ESCALATION_DIALING,
    ESCALATION_FAILED,
    ESCALATION_JOINED,
    MENU_AWAY_S,
    STILL_CALLING_NOTICE,
    UNREACHED_NOTICE,
    Escalation,
    EscalationAttempt,
    Transfer,
    still_open,
)
from gateway.adapters.traced import TracedQueue
from gateway.domain.events import EventKind
from gateway.services.transfers import (
    FINAL_CALL_STATUSES,
    LEG_EVENTS,
    Notes,
    TransferService,
    final_leg_result,
)

if TYPE_CHECKING:
    from routing.model import Psap

log = logging.getLogger(__name__)

EXTENSION = "gateway988.escalations"
QUEUE_NAME = "escalations"
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
# The watchdog looks 25 s after each step: after one ring timeout and a status callback
# that should have arrived, but well before a counselor gives up waiting.
WATCHDOG_DELAY_S = 25.0
# The watchdog stops re-checking after this long; each leg has ended by then anyway.
WATCH_FOR_S = 600
# A watchdog job that fails (Redis or Twilio briefly unreachable) is retried quickly.
WATCHDOG_RETRY = Retry(max=3, interval=[2, 5, 10])
JOB_TIMEOUT_S = 30
RESULT_TTL_S = 60
# A failed watchdog holds only a transfer id; a day is plenty to look at it.
FAILURE_TTL_S = 24 * 3600

# Short: the caller is in the room without the counselor until they are said.
MENU_MESSAGES = {
    "started": "Calling 9 1 1 now.",
    "in-progress": "9 1 1 is already being called.",
    "joined": "9 1 1 is already on this call.",
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


# -- the watchdog's queue -----------------------------------------------------------------


def escalation_queue(connection: redis.Redis, name: str = QUEUE_NAME) -> Queue:
    """The RQ queue of escalation watchdog jobs (JSON serializer, never pickle)."""
    return TracedQueue(name, connection=connection, serializer=JSONSerializer)


class Watchdog:
    """Schedules `watch` for a transfer. Scheduling never fails an escalation.

    Args:
        queue: the escalations queue; None disables the watchdog (status callbacks only).
        delay_s: how long after now the job runs (a worker with --with-scheduler moves it
            to the queue when due).
    """

    def __init__(self, queue: Queue | None, delay_s: float = WATCHDOG_DELAY_S) -> None:
        self.queue, self.delay_s = queue, delay_s

    def schedule(self, transfer_id: str, seconds: float | None = None) -> None:
        """Run `watch` for the transfer `seconds` from now (default: `delay_s`)."""
        if self.queue is None:
            return
        try:
            self.queue.enqueue_in(
                timedelta(seconds=self.delay_s if seconds is None else seconds),
                watch,
                transfer_id,
                retry=WATCHDOG_RETRY,
                job_timeout=JOB_TIMEOUT_S,
                result_ttl=RESULT_TTL_S,
                failure_ttl=FAILURE_TTL_S,
                description="transfer watchdog",
            )
        except redis.RedisError:
            # The first dial went out already and status callbacks carry the rest.
            log.warning("watchdog for %s not scheduled", transfer_id)


_WORKER_APP: list[Flask] = []
_WORKER_APP_LOCK = threading.Lock()


def _worker_app() -> Flask:
    """The gateway app a worker process runs jobs in, built once from the environment."""
    from gateway.app import create_app  # the app factory imports this module

    with _WORKER_APP_LOCK:
        if not _WORKER_APP:
            _WORKER_APP.append(create_app())
        return _WORKER_APP[0]


def watch(transfer_id: str) -> str:
    """RQ job: move a stuck transfer on (`Escalations.check`). Exceptions propagate, so RQ
    retries the job.

    It runs in the app context it is given (a test's), or in the worker's own app.

    Returns:
        What it found: "settled", "in-flight", "rolled-over" or "gone".
    """
    app = current_app if has_app_context() else _worker_app()
    with app.app_context():
        return escalations().check(transfer_id)


def escalations() -> Escalations:
    """The current app's escalation service."""
    found = current_app.extensions[EXTENSION]
    assert isinstance(found, Escalations)
    return found


# -- the service --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dial:
    """What `_plan` decided: ring attempt `index` (number `number_index`), or stop (-1);
    `notice`: an announcement for the counselor now (the path of its document)."""

    index: int = -1
    number_index: int = -1
    notice: str = ""


class Escalations:
    """The bounce-back's operations, on the transfer service's collaborators.

    Args:
        service: the transfer service (store, Twilio client, events, tables, links).
        watchdog: schedules the watchdog job.
    """

    def __init__(self, service: TransferService, watchdog: Watchdog) -> None:
        self.service, self.watchdog = service, watchdog

    def numbers(self, transfer: Transfer) -> tuple[str, ...]:
        psap = self._psap(transfer)
        return (psap.escalation_number, *psap.alternates) if psap else ()

    def _psap(self, transfer: Transfer) -> Psap | None:
        return self.service.router.tables.psaps.get(transfer.psap_id or "")

    # -- asking for 911 ----------------------------------------------------------------

    def request(
        self, transfer_id: str, by: str, *, center_id: str | None = None, counselor_sid: str = ""
    ) -> str | None:
        """Start an escalation and ring the first number now.

        Args:
            transfer_id: the transfer.
            by: "key" or "api".
            center_id: the asking center (API): it must be the one the caller is with.
            counselor_sid: the asking counselor's leg (key): it must be the accepted one.

        Returns:
            None for an unknown transfer; else "started", "in-progress" (a duplicate
            request: nothing more is dialed), "joined" (911 is already in the room),
            "forbidden", "not-connected" or "no-numbers".
        """
        start = partial(_start, by=by, center_id=center_id, counselor_sid=counselor_sid)

        def start_and_plan(transfer: Transfer, notes: Notes) -> tuple[str, Dial | None]:
            # One change for both: the first number is chosen with the request itself.
            result = start(transfer, notes, has_numbers=bool(self.numbers(transfer)))
            dial = self._plan(transfer, notes, index=0) if result == "started" else None
            return result, dial

        done = self.service.change(transfer_id, start_and_plan)
        if done is None:
            return None
        transfer, (result, dial) = done
        if dial is not None:
            self._follow(transfer, dial)
        if result == "started":
            # Enqueueing the watchdog costs several Redis round trips: after the answer too,
            # behind the call to 911, which must not wait for it.
            self.service.after(partial(self.watchdog.schedule, transfer_id))
        elif result == "in-progress":
            self.service.after(partial(self._look_again, transfer))
        return result

    def _look_again(self, transfer: Transfer) -> None:
        """A second request while 911 is being called: look at the leg being rung, as the
        watchdog would. With no worker running, a lost status callback would otherwise
        leave the escalation on a leg that ended long ago, and the counselor asking again
        would only hear that 911 is already being called."""
        escalation = transfer.escalation
        if escalation is None or escalation.status != ESCALATION_DIALING:
            return
        try:
            self._check_leg(transfer, escalation)
        except (TwilioException, redis.RedisError):
            log.warning("could not look at the escalation leg of %s", transfer.id)

    def counselor_menu(
        self, transfer_id: str, index: int, form: Mapping[str, str]
    ) -> VoiceResponse:
        """The counselor's key in the * menu: 9 escalates; then back to the caller's room."""
        room = f"transfer-{transfer_id}"
        if form.get("Digits") == "9":
            try:
                result = self.request(transfer_id, "key", counselor_sid=form.get("CallSid", ""))
            except redis.RedisError:
                log.exception("escalation of %s without state", transfer_id)
                result = None
            if result == "not-connected":
                # A counselor in the menu had the caller: the caller has left since.
                return twiml.goodbye(twiml.CALL_ENDED)
            message = MENU_MESSAGES.get(result or "", NOT_CALLED)
            return twiml.counselor_joins(self.service.links, transfer_id, index, room, message)
        try:
            transfer = self.service.store.get(transfer_id)
        except redis.RedisError:
            transfer = None  # unknown: back to the caller's room, as before the menu
        if transfer is not None and transfer.status == ENDED:
            # The caller left while the counselor was in the menu: no room to go back to.
            return twiml.goodbye(twiml.CALL_ENDED)
        message = "Returning you to the caller."
        return twiml.counselor_joins(self.service.links, transfer_id, index, room, message)

    # -- ringing the PSAP ----------------------------------------------------------------

    def _dial_from(self, transfer_id: str, index: int) -> None:
        """Choose attempt `index`'s number now and ring it afterwards (gateway.web.afterwards)."""
        done = self.service.change(transfer_id, partial(self._plan, index=index))
        if done is not None and done[1] is not None:
            self._follow(done[0], done[1])

    def _follow(self, transfer: Transfer, dial: Dial) -> None:
        """Ring the planned number afterwards, or tell the counselor none is left."""
        if dial.notice:
            self._tell_counselor(transfer, dial.notice)
        if dial.index >= 0:
            self.service.after(partial(self._ring, transfer, dial))

    def _ring(self, transfer: Transfer, dial: Dial) -> None:
        """Place the planned call; when Twilio refuses it, on to the next number."""
        if not self._place_call(transfer, dial):
            self._dial_from(transfer.id, dial.index + 1)

    def _plan(self, transfer: Transfer, notes: Notes, *, index: int) -> Dial | None:
        return _plan(transfer, notes, index, len(self.numbers(transfer)))

    def _place_call(self, transfer: Transfer, dial: Dial) -> bool:
        query: dict[str, str | int] = {"t": transfer.id, "e": dial.index}
        links = self.service.links
        try:
            call = self.service.twilio.calls.create(
                to=self.numbers(transfer)[dial.number_index],
                from_=self.service.flow.gateway_number,
                url=links.url("/voice/escalation/whisper", **query),
                method="POST",
                fallback_url=links.url("/voice/fallback/center"),
                status_callback=links.url("/voice/escalation/status", **query),
                status_callback_event=LEG_EVENTS,
                status_callback_method="POST",
                timeout=RING_TIMEOUT_S,
                machine_detection="Enable",
            )
        except TwilioException:
            log.warning("escalation attempt %s of %s was not placed", dial.index, transfer.id)
            self.service.change(transfer.id, lambda t, n: _end(t, n, dial.index, "", "refused"))
            return False
        sid = str(call.sid)
        try:
            done = self.service.change(transfer.id, lambda t, n: _record_sid(t, dial.index, sid))
        except redis.RedisError:
            # The leg carries the transfer id and attempt in its webhooks anyway.
            log.exception("could not record escalation leg of %s", transfer.id)
            return True
        if done is not None and done[1]:
            self.service.hang_up(sid, answered=False)
        return True

    def _tell_counselor(self, transfer: Transfer, path: str) -> None:
        """The counselor hears how the escalation goes, in the room, with the caller."""
        accepted = transfer.accepted()
        if accepted is None or not transfer.conference_sid:
            return
        self.service.announce(transfer, accepted.call_sid, path)

    def leg_status(self, transfer_id: str, index: int, form: Mapping[str, str]) -> None:
        """An escalation leg's status callback: a final status moves to the next number."""
        final = final_leg_result(form)
        if final is None:
            return
        sid, result = final
        done = self.service.change(transfer_id, lambda t, n: _end(t, n, index, sid, result))
        if done is not None and done[1]:
            self._dial_from(transfer_id, index + 1)

    # -- the PSAP's leg ------------------------------------------------------------------

    def whisper(self, transfer_id: str, index: int, form: Mapping[str, str]) -> VoiceResponse:
        """A PSAP line answered: a machine is hung up on, a person hears the whisper."""
        answered_by = form.get("AnsweredBy", "unknown")
        machine = answered_by.startswith("machine") or answered_by == "fax"
        sid = form.get("CallSid", "")
        done = self.service.change(
            transfer_id, lambda t, n: _answered(t, n, index, sid, machine=machine)
        )
        if done is None or done[1] == "stale":
            return twiml.goodbye("This 9 8 8 escalation is no longer waiting. Thank you.")
        if done[1] == "machine":
            self._dial_from(transfer_id, index + 1)
            return twiml.goodbye("")
        text = self.whisper_text(done[0])
        return twiml.escalation_whisper(self.service.links, transfer_id, index, text, 0)

    def whisper_text(self, transfer: Transfer) -> str:
        """Who asks for 911, where the caller is, and the number to call them back on."""
        accepted = transfer.accepted()
        center = self.service.router.tables.centers.get(accepted.center_id if accepted else "")
        number = twiml.spoken_number(transfer.callback_number)
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
        self, transfer_id: str, index: int, form: Mapping[str, str], repeat: int
    ) -> VoiceResponse:
        """The 911 call-taker's key: 1 joins; anything else replays once, then gives up."""
        links, room = self.service.links, f"transfer-{transfer_id}"
        if form.get("Digits") == "1":
            try:
                done = self.service.change(transfer_id, lambda t, n: _joined(t, n, index))
            except redis.RedisError:
                # A 911 call-taker pressed 1 for a caller in this room: let them in.
                log.exception("escalation join for %s without state", transfer_id)
                return twiml.psap_joins(links, transfer_id, index, room)
            if done is None or not done[1]:
                return twiml.goodbye("This 9 8 8 escalation is no longer waiting. Thank you.")
            return twiml.psap_joins(links, transfer_id, index, room)
        if repeat >= 1:
            sid = form.get("CallSid", "")
            done = self.service.change(transfer_id, lambda t, n: _end(t, n, index, sid, "no-key"))
            if done is not None and done[1]:
                self._dial_from(transfer_id, index + 1)
            return twiml.goodbye("No key was pressed. Another line will be called.")
        transfer = self.service.store.get(transfer_id)
        if transfer is None or _open(transfer, index, "") is None:
            return twiml.goodbye("This 9 8 8 escalation is no longer waiting. Thank you.")
        text = self.whisper_text(transfer)
        return twiml.escalation_whisper(links, transfer_id, index, text, repeat + 1)

    # -- the watchdog --------------------------------------------------------------------

    def check(self, transfer_id: str) -> str:
        """Move a stuck transfer on, while it rings centers (`check_dialing`, after the
        deadline) or 911 (the bounce-back); schedule the next check while it is not settled.

        Raises:
            TwilioException, redis.RedisError: the job fails and RQ retries it.
        """
        transfer = self.service.store.get(transfer_id)
        if transfer is None:
            return "gone"
        if transfer.status == DIALING:
            found = self.service.check_dialing(transfer)
            # Counted from the deadline: registration may be long before the call arrived.
            since = transfer.deadline_at or transfer.created_at
            if found == "in-flight" and self.service.now() - since < WATCH_FOR_S:
                self.watchdog.schedule(transfer_id)
            return found
        escalation = transfer.escalation
        if escalation is None or escalation.status != ESCALATION_DIALING:
            return "settled"
        found = self._check_leg(transfer, escalation)
        transfer = self.service.store.get(transfer_id)
        escalation = transfer.escalation if transfer else None
        unsettled = escalation is not None and escalation.status == ESCALATION_DIALING
        if unsettled and escalation and self.service.now() - escalation.requested_at < WATCH_FOR_S:
            self.watchdog.schedule(transfer_id)
        return found

    def _check_leg(self, transfer: Transfer, escalation: Escalation) -> str:
        index = len(escalation.attempts) - 1
        attempt = escalation.attempts[index] if index >= 0 else None
        if attempt is None or attempt.status not in ATTEMPT_OPEN:
            # The last leg ended but the next was never placed (a crash in between).
            self._dial_from(transfer.id, index + 1)
            return "rolled-over"
        if attempt.call_sid:
            status = str(self.service.twilio.calls(attempt.call_sid).fetch().status)
            if status not in FINAL_CALL_STATUSES:
                return "in-flight"
            self.leg_status(transfer.id, index, {"CallStatus": status, "CallSid": attempt.call_sid})
            return "rolled-over"
        if self.service.now() - attempt.started_at < RING_TIMEOUT_S + WATCHDOG_DELAY_S:
            return "in-flight"
        # Placed, but its call SID was never recorded and nothing was heard from it since.
        done = self.service.change(transfer.id, lambda t, n: _end(t, n, index, "", "lost"))
        if done is not None and done[1]:
            self._dial_from(transfer.id, index + 1)
        return "rolled-over"


# -- pure changes to a transfer (run inside TransferStore.update) -------------------------


def _key(escalation: Escalation, step: str) -> str:
    return f"escalation:{escalation.seq}:{step}"


def _start(
    transfer: Transfer,
    notes: Notes,
    *,
    by: str,
    center_id: str | None,
    counselor_sid: str,
    has_numbers: bool,
) -> str:
    accepted = transfer.accepted()
    if center_id is not None and not transfer.accepted_by(center_id):
        tried = any(a.center_id == center_id for a in transfer.attempts)
        return "not-connected" if tried and accepted is None else "forbidden"
    if counselor_sid and (accepted is None or accepted.call_sid != counselor_sid):
        return "forbidden"
    if transfer.status != CONNECTED or accepted is None:
        return "not-connected"
    previous = transfer.escalation
    if previous is not None and previous.status == ESCALATION_DIALING:
        return "in-progress"
    if previous is not None and previous.status == ESCALATION_JOINED:
        return "joined"
    if not has_numbers:
        return "no-numbers"
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
    return "started"


def _plan(transfer: Transfer, notes: Notes, index: int, count: int) -> Dial | None:
    """The next number to ring, a failed escalation (Dial()), or None (nothing to do)."""
    escalation = transfer.escalation
    if escalation is None or escalation.status != ESCALATION_DIALING:
        return None
    if len(escalation.attempts) != index:
        return None  # someone else already moved it on
    if transfer.status != CONNECTED:
        escalation.status = ESCALATION_CANCELED
        return None
    if _give_up(escalation, notes.at, index, count):
        escalation.status = ESCALATION_FAILED
        notes.add(
            EventKind.ESCALATION_FAILED,
            _key(escalation, "failed"),
            psap_id=transfer.psap_id,
            number_index=(index - 1) % count if count else -1,
            attempts=index,
            status="failed",
        )
        return Dial(notice=_notice(transfer, escalation, UNREACHED_NOTICE, notes.at))
    number_index = index % count
    escalation.attempts.append(EscalationAttempt(number_index, started_at=notes.at))
    notes.add(
        EventKind.ESCALATION_DIALED,
        _key(escalation, f"dial:{index}"),
        psap_id=transfer.psap_id,
        number_index=number_index,
        attempt=index,
        status="ringing",
    )
    if index == count * TELL_AFTER_ROUNDS:
        notice = _notice(transfer, escalation, STILL_CALLING_NOTICE, notes.at)
        return Dial(index, number_index, notice)
    return Dial(index, number_index)


def _notice(transfer: Transfer, escalation: Escalation, path: str, now: float) -> str:
    """An announcement for the counselor: now, or kept until they are back in the room
    (an announcement to a counselor in the * menu would not reach them)."""
    away = transfer.counselor_away_since
    if away is not None and now - away < MENU_AWAY_S:
        escalation.notice = path
        return ""
    return path


def _give_up(escalation: Escalation, now: float, index: int, count: int) -> bool:
    """No number to call, MAX_ROUNDS rounds or GIVE_UP_S already, or a whole round in which
    Twilio placed no call at all (refused, or out of reach): another would only repeat it."""
    if count == 0 or index >= count * MAX_ROUNDS or now - escalation.requested_at >= GIVE_UP_S:
        return True
    last_round = escalation.attempts[-count:] if index >= count else []
    return bool(last_round) and all(a.result == "refused" for a in last_round)


def _record_sid(transfer: Transfer, index: int, sid: str) -> bool:
    """Record the leg placed for an attempt. True when the caller left while the REST
    request was out: nobody could cancel the leg then, so it must be hung up now."""
    attempt = _attempt(transfer, index)
    if attempt is None or attempt.call_sid:
        return False
    attempt.call_sid = str(sid)
    return attempt.result == "caller-left"


def _attempt(transfer: Transfer, index: int) -> EscalationAttempt | None:
    escalation = transfer.escalation
    if escalation is None or not 0 <= index < len(escalation.attempts):
        return None
    return escalation.attempts[index]


def _open(transfer: Transfer, index: int, sid: str) -> EscalationAttempt | None:
    """Attempt `index` if it is still open and `sid` (when given) is its leg."""
    return still_open(_attempt(transfer, index), sid)


def _end(transfer: Transfer, notes: Notes, index: int, sid: str, result: str) -> bool:
    """Close an open attempt with `result`. True when the next number should be rung."""
    attempt = _open(transfer, index, sid)
    escalation = transfer.escalation
    if attempt is None or escalation is None:
        return False  # a duplicate or late callback: already decided
    attempt.status, attempt.result = "failed", result
    notes.add(
        EventKind.ESCALATION_DIALED,
        _key(escalation, f"result:{index}"),
        psap_id=transfer.psap_id,
        number_index=attempt.number_index,
        attempt=index,
        status=result,
    )
    return escalation.status == ESCALATION_DIALING and index == len(escalation.attempts) - 1


def _answered(transfer: Transfer, notes: Notes, index: int, sid: str, *, machine: bool) -> str:
    attempt = _open(transfer, index, sid)
    escalation = transfer.escalation
    if attempt is None or escalation is None or escalation.status != ESCALATION_DIALING:
        return "stale"
    if transfer.status != CONNECTED:
        return "stale"
    if machine:
        _end(transfer, notes, index, sid, "machine")
        return "machine"
    attempt.status = "answered"
    return "human"


def _joined(transfer: Transfer, notes: Notes, index: int) -> bool:
    attempt = _open(transfer, index, "")
    escalation = transfer.escalation
    if attempt is None or escalation is None or escalation.status != ESCALATION_DIALING:
        return False
    if transfer.status != CONNECTED:
        return False
    attempt.status, escalation.status = "joined", ESCALATION_JOINED
    notes.add(
        EventKind.ESCALATION_ANSWERED,
        _key(escalation, "answered"),
        psap_id=transfer.psap_id,
        number_index=attempt.number_index,
        attempt=index,
        status="joined",
    )
    return True
