"""The carrier: call legs, their TwiML programs, conferences, and the parties' scripts.

Concurrency model. Everything runs on the scheduler's loop, one timer at a time, with
`Engine.lock` held. Each answered call runs its TwiML as a generator that yields a `Wait`
(for time, a key press or a signal) and is resumed with a `Wake`. REST handlers (called in
process or from the API server's threads) take the same lock and only create records and
schedule timers, so they never re-enter a running program. The lock is released while a
webhook is in flight, because the application under test calls the REST API while it
handles a webhook; that is the only moment another thread can change the engine's state.

Reactions between calls (a leg ends, so the other side's <Dial> finishes) are scheduled
with `call_soon` rather than run in place: a generator cannot be resumed from inside its
own step, and ordering through the queue keeps a replay deterministic.

Concurrent webhooks (load mode). With an `executor`, webhooks do not block the loop: a
program that needs a document parks on an "http:" channel while a pool thread sends the
request, and the answer comes back through the queue. Status callbacks and other requests
whose answer nothing waits for are sent the same way and recorded when they return. Keys
and signals that reach a program while it waits for its document are held until the
document arrives (on the loop-blocking path they would have queued behind the request).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from typing import Any

from carrier_sim import twiml
from carrier_sim.clock import Scheduler, Timer
from carrier_sim.model import (
    Call,
    Conference,
    Participant,
    Program,
    Wait,
    Wake,
    new_sid,
    valid_address,
)
from carrier_sim.scenario import ANSWERED, PERSON, Attempt, Caller, Forgery, Scenario
from carrier_sim.timeline import Leg, Timeline
from carrier_sim.twiml import VERBS, TwimlError, Verb
from carrier_sim.webhooks import (
    HTTP_RETRIEVAL_FAILURE,
    INVALID_CONTENT_TYPE,
    HttpResult,
    WebhookClient,
    resolve,
)

Step = Generator[Wait, Wake, "Target | None"]
DialStep = Generator[Wait, Wake, dict[str, str]]
FetchStep = Generator[Wait, Wake, HttpResult]
HTTP_CHANNEL = "http:"

API_VERSION = "2010-04-01"
TWIML_TYPES = frozenset({"text/xml", "application/xml", "text/html"})
# How long answering machine detection takes before the call's URL is requested.
# `unknown` comes when the line stays silent for MachineDetectionSilenceTimeout (5 s).
AMD_SECONDS = {
    "human": 2.0,
    "machine_start": 3.0,
    "machine_end_beep": 10.0,
    "fax": 3.0,
    "unknown": 5.0,
}
# How long a machine that answers stays on the line before it hangs up.
MACHINE_SECONDS = {"voicemail": 120.0, "fax": 60.0}
SAY_WORDS_PER_SECOND = 2.5
INVALID_DIAL_NUMBER = 13224
LABEL_IN_USE = 16025
APPLICATION_ERROR_MESSAGE = "We are sorry, an application error has occurred. Goodbye."
DEFAULT_WAIT_URL = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"


class Interrupt(Exception):
    """Thrown into a call's program when something outside it changes its course."""


class HungUp(Interrupt):
    """The call ended while its program was waiting."""


class Redirected(Interrupt):
    """The REST API gave the call new TwiML."""

    def __init__(self, target: Target) -> None:
        super().__init__("redirected")
        self.target = target


@dataclass
class Target:
    """Where a program continues: a URL to fetch, or a TwiML document given inline."""

    url: str | None = None
    method: str = "POST"
    extra: dict[str, str] = field(default_factory=dict)
    twiml: str | None = None
    allowed: frozenset[str] = VERBS


@dataclass
class EngineConfig:
    """What an engine needs to know about its world."""

    account_sid: str
    app_base_url: str
    scenario: Scenario
    epoch: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))


class Engine:
    """Plays the carrier's part for one run.

    Args:
        config: account, application URL and scenario.
        scheduler: the clock and event queue.
        webhooks: the signed-webhook sender.
    """

    def __init__(
        self,
        config: EngineConfig,
        scheduler: Scheduler,
        webhooks: WebhookClient,
        executor: Executor | None = None,
    ) -> None:
        self.config = config
        self.executor = executor
        # Keys and signals for a program that waits for its document (load mode).
        self.held: dict[str, list[Callable[[], None]]] = {}
        self.in_flight = 0  # requests on the executor whose answer is not yet queued
        self.send_waits: list[float] = []  # how long each request waited for a pool thread
        self._flight_lock = threading.Lock()
        self.scheduler = scheduler
        self.webhooks = webhooks
        self.timeline = Timeline(config.scenario.name)
        self.lock = threading.Lock()
        self.calls: dict[str, Call] = {}
        self.conferences: dict[str, Conference] = {}
        self.pending: dict[str, Participant] = {}  # API participants not yet answered
        self.roles: dict[str, str] = {}  # call sid -> inbound | api | dial | participant
        self.timers: dict[str, list[Timer]] = {}
        self.dial_counts: dict[str, int] = {}
        self.whisper: dict[str, Target] = {}
        self.wait_timers: dict[str, Timer] = {}
        self.deleted: set[str] = set()  # call records deleted through the REST API
        self.random = random.Random(config.scenario.callbacks.seed)

    # Time and records ---------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the run started."""
        return self.scheduler.now()

    def date(self, t: float | None) -> str | None:
        """RFC 2822 date for simulation time `t`, as Twilio's JSON and webhooks use."""
        if t is None:
            return None
        return format_datetime(self.config.epoch + timedelta(seconds=t))

    def log(self, call: Call | None, kind: str, text: str, **data: Any) -> None:
        """Add a timeline entry for `call` (or a conference-wide one)."""
        party = call.party if call else ""
        self.timeline.add(self.now(), kind, party, call.sid if call else "", text, **data)

    def soon(self, action: Callable[[], None], label: str = "") -> None:
        """Run `action` after everything already due now."""
        self.scheduler.call_soon(action, label)

    def later(self, call: Call, delay: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay` unless `call` has ended by then."""

        def guarded() -> None:
            if not call.ended:
                action()

        self.timers.setdefault(call.sid, []).append(self.scheduler.call_later(delay, guarded))

    def finish(self) -> Timeline:
        """Close the timeline with every leg's final state."""
        legs = [self._leg(call) for call in self.calls.values()]
        for call in self.calls.values():
            if not call.ended:
                self.log(call, "note", f"still {call.status} at the end of the run")
        self.timeline.finish(self.now(), legs)
        return self.timeline

    def _leg(self, call: Call) -> Leg:
        return Leg(
            call.sid,
            call.party,
            call.from_,
            call.to,
            call.direction,
            call.status,
            call.human,
            call.created_at,
            call.answered_at,
            call.ended_at,
            call.ended_by,
            call.end_reason,
            call.answered_by,
            call.parent_sid,
        )

    # Webhooks -------------------------------------------------------------------------

    @contextmanager
    def unlocked(self) -> Iterator[None]:
        """Release the engine lock while the application handles a webhook."""
        self.lock.release()
        try:
            yield
        finally:
            self.lock.acquire()

    def call_params(self, call: Call) -> dict[str, str]:
        """The standard parameters of every voice webhook about `call`."""
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
            "Caller": call.from_,
            "Called": call.to,
        }
        if call.parent_sid:
            params["ParentCallSid"] = call.parent_sid
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        for name, value in call.sip_headers.items():
            params[f"SipHeader_{name}"] = value
        return params

    def fetch(
        self, call: Call, method: str, url: str, extra: dict[str, str], *, media: bool = False
    ) -> HttpResult:
        """Request TwiML for `call` and record the exchange (`media`: see `_log_webhook`)."""
        form = {**self.call_params(call), **extra}
        started = self.now()
        with self.unlocked():
            sent_to, result = self.webhooks.request(method, url, form)
        self._log_webhook(call, method, form, started, sent_to, result, media=media)
        return result

    def _log_webhook(
        self,
        call: Call,
        method: str,
        form: dict[str, str],
        started: float,
        sent_to: str,
        result: HttpResult,
        *,
        media: bool = False,
    ) -> None:
        """Record one webhook. `media`: a document only played to the leg (a waitUrl or an
        announceUrl), which cannot change where the call goes."""
        self.log(
            call,
            "webhook",
            f"{method} {sent_to} -> {result.status or result.error} "
            f"({result.elapsed * 1000:.0f} ms)",
            url=sent_to,
            method=method,
            params=form,
            status=result.status,
            body=result.body,
            elapsed=result.elapsed,
            started=started,
            media=media,
        )

    def fetch_step(
        self, call: Call, method: str, url: str, extra: dict[str, str], *, media: bool = False
    ) -> FetchStep:
        """Request TwiML for `call` from inside its program; in load mode without blocking."""
        if self.executor is None:
            return self.fetch(call, method, url, extra, media=media)
        form = {**self.call_params(call), **extra}
        channel = f"{HTTP_CHANNEL}{new_sid('HT')}"

        def arrived(started: float, sent_to: str, result: HttpResult) -> None:
            self._log_webhook(call, method, form, started, sent_to, result, media=media)
            if call.waiting is not None and call.waiting.channel == channel:
                self.resume(call, Wake("signal", "http", {"result": result}))
            for action in self.held.pop(call.sid, []):
                self.soon(action, "held")

        self._send_detached(method, url, form, "", arrived)
        while True:
            wake = yield Wait(None, doing="fetching TwiML", channel=channel)
            if wake.kind == "signal" and wake.key == "http":
                result: HttpResult = wake.data["result"]
                return result

    def fetch_detached(
        self,
        call: Call,
        method: str,
        url: str,
        extra: dict[str, str],
        then: Callable[[HttpResult], None],
        *,
        media: bool = False,
    ) -> None:
        """Request a document nothing waits for; `then(result)` runs under the lock."""
        if self.executor is None:
            then(self.fetch(call, method, url, extra, media=media))
            return
        form = {**self.call_params(call), **extra}

        def arrived(started: float, sent_to: str, result: HttpResult) -> None:
            self._log_webhook(call, method, form, started, sent_to, result, media=media)
            then(result)

        self._send_detached(method, url, form, "", arrived)

    def _send_detached(
        self,
        method: str,
        url: str,
        form: dict[str, str],
        token: str,
        arrived: Callable[[float, str, HttpResult], None],
    ) -> None:
        """Send on the executor; `arrived(started, url, result)` runs on the loop."""
        assert self.executor is not None
        started = self.now()
        with self._flight_lock:
            self.in_flight += 1
        future = self.executor.submit(self._send_now, time.monotonic(), method, url, form, token)

        def done(future: Future[tuple[str, HttpResult]]) -> None:
            try:
                sent_to, result = future.result()
            except Exception as exc:  # a transport bug is the app's 11200
                sent_to = url
                result = HttpResult(0, error_code=HTTP_RETRIEVAL_FAILURE, error=repr(exc))
            self.scheduler.call_soon(partial(arrived, started, sent_to, result), "http answer")
            with self._flight_lock:
                self.in_flight -= 1

        future.add_done_callback(done)

    def _send_now(
        self, queued: float, method: str, url: str, form: dict[str, str], token: str
    ) -> tuple[str, HttpResult]:
        """On a pool thread: note how long the request waited for the thread, and send it."""
        self.send_waits.append(time.monotonic() - queued)  # list.append is atomic
        return self.webhooks.request(method, url, form, token)

    def _fetching(self, call: Call) -> bool:
        return call.waiting is not None and call.waiting.channel.startswith(HTTP_CHANNEL)

    def send_callback(
        self, owner: Call | None, url: str, method: str, form: dict[str, str]
    ) -> None:
        """Deliver a status callback, with the scenario's duplicates and reordering."""
        faults = self.config.scenario.callbacks
        url = resolve(self.config.app_base_url, url)
        token = new_sid("ID")
        delay = self.random.uniform(0.0, 2.0) if faults.reorder else 0.0
        copies = [delay]
        if faults.duplicate:
            copies.append(delay + self.random.uniform(0.5, 3.0))
        for attempt, when in enumerate(copies):
            self.scheduler.call_later(
                when, partial(self._post_callback, owner, url, method, form, token, attempt)
            )

    def _post_callback(
        self,
        owner: Call | None,
        url: str,
        method: str,
        form: dict[str, str],
        token: str,
        attempt: int,
    ) -> None:
        if self.executor is not None:

            def arrived(started: float, sent_to: str, result: HttpResult) -> None:
                self._record_callback(owner, form, attempt, started, sent_to, result)

            self._send_detached(method, url, form, token, arrived)
            return
        started = self.now()
        with self.unlocked():
            sent_to, result = self.webhooks.request(method, url, form, token=token)
        self._record_callback(owner, form, attempt, started, sent_to, result)

    def _record_callback(
        self,
        owner: Call | None,
        form: dict[str, str],
        attempt: int,
        started: float,
        sent_to: str,
        result: HttpResult,
    ) -> None:
        event = form.get("StatusCallbackEvent") or form.get("CallStatus", "")
        label = " (duplicate delivery)" if attempt else ""
        self.log(
            owner,
            "callback",
            f"{event} -> {sent_to}: {result.status or result.error}{label}",
            url=sent_to,
            params=form,
            status=result.status,
            elapsed=result.elapsed,
            started=started,
        )
        if not result.ok:
            self.log(
                owner,
                "error",
                f"status callback failed: {result.error}",
                code=result.error_code,
                url=sent_to,
            )

    # Call status ----------------------------------------------------------------------

    def set_status(self, call: Call, status: str, event: str | None = None) -> None:
        """Change a leg's status and send its status callback if subscribed."""
        if call.status != status:
            call.status = status
            self.log(call, "call", status)
        if status == "ringing" and call.started_at is None:
            call.started_at = self.now()
        if event is not None:
            self._call_callback(call, event)

    def _call_callback(self, call: Call, event: str) -> None:
        if not call.status_callback or event not in call.status_callback_events:
            return
        form = self.call_params(call)
        form["CallStatus"] = "initiated" if event == "initiated" else call.status
        form.update(
            {
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(call.callback_seq),
                "Timestamp": self.date(self.now()) or "",
            }
        )
        if call.ended:
            form["CallDuration"] = str(self._talk_seconds(call))
        call.callback_seq += 1
        self.send_callback(call, call.status_callback, call.status_callback_method, form)

    def _talk_seconds(self, call: Call) -> int:
        if call.answered_at is None:
            return 0
        end = call.ended_at if call.ended_at is not None else self.now()
        return round(end - call.answered_at)

    def end(self, call: Call, status: str, ended_by: str, reason: str) -> None:
        """End a leg: final status, leave any conference, tell whoever depends on it.

        Args:
            call: the leg.
            status: completed, busy, failed, no-answer or canceled.
            ended_by: party, application, remote, timeout or network.
            reason: a few words for the timeline.
        """
        if call.ended:
            return
        for timer in self.timers.pop(call.sid, []):
            timer.cancel()
        if call.sid in self.wait_timers:
            self.wait_timers.pop(call.sid).cancel()
        call.ended_at, call.ended_by, call.end_reason = self.now(), ended_by, reason
        self.set_status(call, status)
        self.log(call, "note", f"ended by {ended_by}: {reason}")
        self._drop_from_conferences(call)
        peer = self.calls.get(call.bridged_with or "")
        if peer is not None:
            peer.bridged_with = call.bridged_with = None
        if call.parent_sid:
            self.signal(self.calls[call.parent_sid], call.sid, "child-ended", status=status)
        self._call_callback(call, "completed")
        self.throw(call, HungUp())
        self.recompute()

    def _drop_from_conferences(self, call: Call) -> None:
        self.pending.pop(call.sid, None)
        for conference in list(self.conferences.values()):
            if call.sid in conference.participants:
                self.leave(conference, call, "participant_hung_up")

    # Programs -------------------------------------------------------------------------

    def start_program(self, call: Call, target: Target) -> None:
        """Run TwiML on an answered (or inbound ringing) call, replacing what it ran."""
        self._replace_program(call, self._program(call, target))

    def _replace_program(self, call: Call, program: Program) -> None:
        # The first step is scheduled, not run here: the caller may be the old program.
        call.program, call.waiting = program, None
        call.wait_token += 1

        def first_step() -> None:
            if call.program is program:
                self.resume(call, Wake("start"))

        self.soon(first_step, "start program")

    def redirect(self, call: Call, target: Target) -> None:
        """Give an answered call new TwiML (a REST update with Url or Twiml)."""
        self.log(call, "note", "redirected via the REST API")
        peer = self.calls.get(call.bridged_with or "")
        if peer is not None and call.parent_sid == peer.sid:
            # A callee taken out of a <Dial> bridge: the caller's <Dial> completes.
            call.bridged_with = peer.bridged_with = None
            self.signal(peer, call.sid, "child-ended", status="completed")
            call.parent_sid = None
        for conference in list(self.conferences.values()):
            member = conference.participants.get(call.sid)
            if member is not None and member.via_api:
                self.leave(conference, call, "participant_updated_via_api")
        if (
            call.program is not None
            and call.waiting is not None
            and call.waiting.channel != "bridged"
        ):
            self.throw(call, Redirected(target))
        else:
            self.start_program(call, target)
        self.recompute()

    def resume(self, call: Call, wake: Wake) -> None:
        """Step the call's program with `wake` and park it on what it yields next."""
        if call.program is None:
            return
        if call.ended and wake.kind != "start":
            self._step(call, lambda program: program.throw(HungUp()))
            return
        if wake.kind == "start":
            self._step(call, next)
        else:
            self._step(call, lambda program: program.send(wake))

    def throw(self, call: Call, exc: Interrupt) -> None:
        """Interrupt the call's program (soon, since it may be the one running now)."""

        def deliver() -> None:
            if call.program is not None and not call.running:
                self._step(call, lambda program: program.throw(exc))

        self.soon(deliver, "interrupt")

    def signal(self, call: Call, channel: str, name: str, **data: Any) -> None:
        """Wake a program that waits on `channel` (e.g. a <Dial> waiting on its callee)."""

        def deliver() -> None:
            if self._fetching(call):
                self.held.setdefault(call.sid, []).append(deliver)
            elif call.waiting is not None and call.waiting.channel == channel:
                self.resume(call, Wake("signal", name, data))

        self.soon(deliver, name)

    def _step(self, call: Call, advance: Callable[[Program], Wait]) -> None:
        program = call.program
        if program is None or call.running:
            return
        call.waiting = None
        call.wait_token += 1
        call.running = True
        try:
            wait = advance(program)
        except (StopIteration, Interrupt):
            if call.program is program:
                call.program = None
            return
        finally:
            call.running = False
        if call.program is program:
            self._park(call, wait)

    def _park(self, call: Call, wait: Wait) -> None:
        call.waiting = wait
        if call.sid in self.wait_timers:
            self.wait_timers.pop(call.sid).cancel()
        if wait.seconds is None:
            return
        token = call.wait_token

        def expire() -> None:
            if call.wait_token == token and call.waiting is wait:
                self.resume(call, Wake("timeout"))

        self.wait_timers[call.sid] = self.scheduler.call_later(wait.seconds, expire, "wait")

    def press(self, call: Call, keys: str) -> None:
        """The party on `call` presses `keys`."""
        for key in keys:
            self.soon(partial(self._key, call, key), "dtmf")

    def _key(self, call: Call, key: str, pressed_at: float | None = None) -> None:
        pressed_at = self.now() if pressed_at is None else pressed_at
        if self._fetching(call) and not call.ended:
            held = partial(self._key, call, key, pressed_at)
            self.held.setdefault(call.sid, []).append(held)
            return
        listening = call.waiting is not None and call.waiting.digits and not call.ended
        self.log(
            call,
            "dtmf",
            f"pressed {key}" + ("" if listening else " (nobody listening)"),
            at=pressed_at,
        )
        if listening:
            self.resume(call, Wake("digit", key))

    def _program(self, call: Call, first: Target) -> Program:
        target: Target | None = first
        while target is not None and not call.ended:
            try:
                verbs, base = yield from self._materialize(call, target)
                if verbs is None:
                    self._application_error(call)
                    return
                target = yield from self._run_document(call, verbs, base, target.allowed)
            except Redirected as redirect:
                target = redirect.target
            except HungUp:
                return
        if not call.ended:
            self._fell_off_end(call)

    def _fell_off_end(self, call: Call) -> None:
        if call.sid in self.whisper:
            # A whisper that ends without hanging up connects the callee to the caller.
            del self.whisper[call.sid]
            parent = self.calls[call.parent_sid or ""]
            self.signal(parent, call.sid, "bridged")
            self._replace_program(call, self._hold_line())
            return
        self.end(call, "completed", "application", "no more TwiML to run")

    def _hold_line(self) -> Program:
        """What a bridged callee runs: nothing, until the bridge or the call ends."""
        try:
            yield Wait(None, doing="bridged", channel="bridged")
        except Interrupt:
            return

    def _materialize(
        self, call: Call, target: Target
    ) -> Generator[Wait, Wake, tuple[list[Verb] | None, str | None]]:
        """Fetch and parse a document, falling back to the fallback URL on failure."""
        if target.twiml is not None:
            try:
                return twiml.parse(target.twiml, target.allowed), target.url
            except TwimlError as error:
                self.log(call, "error", error.message, code=error.code)
                return None, None
        assert target.url is not None
        url = resolve(self.config.app_base_url, target.url)
        verbs, code = yield from self._fetch_document(
            call, target.method, url, target.extra, target.allowed
        )
        if verbs is not None:
            return verbs, url
        if call.fallback_url and not call.ended:
            fallback = resolve(self.config.app_base_url, call.fallback_url)
            extra = {**target.extra, "ErrorCode": str(code), "ErrorUrl": url}
            self.log(call, "note", f"requesting fallback URL after error {code}")
            verbs, _ = yield from self._fetch_document(
                call, call.fallback_method, fallback, extra, target.allowed
            )
            if verbs is not None:
                return verbs, fallback
        return None, None

    def _fetch_document(
        self, call: Call, method: str, url: str, extra: dict[str, str], allowed: frozenset[str]
    ) -> Generator[Wait, Wake, tuple[list[Verb] | None, int]]:
        result = yield from self.fetch_step(call, method, url, extra)
        if not result.ok:
            self.log(call, "error", f"{url}: {result.error}", code=result.error_code, url=url)
            return None, result.error_code
        if result.content_type not in TWIML_TYPES:
            message = f"{url}: content type {result.content_type!r} is not TwiML"
            self.log(call, "error", message, code=INVALID_CONTENT_TYPE, url=url)
            return None, INVALID_CONTENT_TYPE
        try:
            return twiml.parse(result.body, allowed), 0
        except TwimlError as error:
            self.log(call, "error", f"{url}: {error.message}", code=error.code, url=url)
            return None, error.code

    def _application_error(self, call: Call) -> None:
        if call.ended:
            return
        self.log(call, "media", f'says "{APPLICATION_ERROR_MESSAGE}"')
        self.end(call, "completed", "application", "application error")

    def _run_document(
        self, call: Call, verbs: list[Verb], base: str | None, allowed: frozenset[str]
    ) -> Step:
        """Run verbs in order; return where to continue, or None at the end."""
        for verb in verbs:
            if call.ended:
                return None
            self.log(call, "verb", verb.describe())
            self._answer_if_ringing(call, verb)
            target: Target | None
            if verb.name in _INSTANT_VERBS:
                target = getattr(self, f"_verb_{verb.name.lower()}")(call, verb, base)
            else:
                target = yield from getattr(self, f"_verb_{verb.name.lower()}")(call, verb, base)
            if target is not None:
                target.allowed = allowed
                return target
            if call.ended:
                return None
        return None

    def _answer_if_ringing(self, call: Call, verb: Verb) -> None:
        # An inbound call is answered by the first verb that plays to the caller.
        if call.status == "ringing" and verb.name not in {"Reject", "Redirect", "Hangup"}:
            call.answered_at = self.now()
            self.set_status(call, "in-progress", "answered")

    # Verbs ----------------------------------------------------------------------------

    def media_seconds(self, verb: Verb) -> float | None:
        """How long a Say, Play or Pause lasts; None when it loops forever."""
        if verb.name == "Pause":
            return verb.number("length", 1.0)
        loop = int(verb.number("loop", 1))
        if loop == 0:
            return None
        if verb.name == "Say":
            words = max(1, len(verb.text.split()))
            return loop * max(1.0, words / SAY_WORDS_PER_SECOND)
        return loop * self.config.scenario.play_seconds

    def _media(self, call: Call, verb: Verb) -> None:
        what = {"Say": f'says "{verb.text}"', "Play": f"plays {verb.text}"}
        self.log(call, "media", what.get(verb.name, f"pauses {verb.get('length', '1')} s"))

    def _verb_say(self, call: Call, verb: Verb, base: str | None) -> Step:
        self._media(call, verb)
        yield Wait(self.media_seconds(verb), doing=verb.name)
        return None

    _verb_play = _verb_say
    _verb_pause = _verb_say

    def _verb_redirect(self, call: Call, verb: Verb, base: str | None) -> Target | None:
        return Target(resolve(base, verb.text), verb.get("method", "POST").upper())

    def _verb_hangup(self, call: Call, verb: Verb, base: str | None) -> Target | None:
        self.end(call, "completed", "application", "<Hangup>")
        return None

    def _verb_reject(self, call: Call, verb: Verb, base: str | None) -> Target | None:
        # Both reasons leave the call unanswered; the simulator reports it as busy.
        status = "busy" if call.answered_at is None else "completed"
        self.end(call, status, "application", f"<Reject reason={verb.get('reason', 'rejected')}>")
        return None

    def _verb_gather(self, call: Call, verb: Verb, base: str | None) -> Step:
        gather = _Gather(verb)
        for prompt in verb.children:
            self._media(call, prompt)
            wake = yield Wait(self.media_seconds(prompt), digits=True, doing="gather prompt")
            if wake.kind == "digit":
                gather.take(wake.key)  # a key interrupts the prompt (barge-in)
                break
        while not gather.done:
            wake = yield Wait(gather.timeout, digits=True, doing="gathering")
            if wake.kind != "digit":
                break
            gather.take(wake.key)
        if not gather.digits and not verb.flag("actionOnEmptyResult", False):
            self.log(call, "note", "Gather got no input; continuing with the next verb")
            return None
        action = resolve(base, verb.get("action") or base or "")
        extra = {"Digits": gather.digits}
        if gather.finished_on:
            extra["FinishedOnKey"] = gather.finished_on
        return Target(action, verb.get("method", "POST").upper(), extra)

    def _verb_dial(self, call: Call, verb: Verb, base: str | None) -> Step:
        noun = verb.children[0] if verb.children else Verb("Number", {}, verb.text)
        if noun.name == "Conference":
            extra = yield from self._dial_conference(call, verb, noun, base)
        else:
            extra = yield from self._dial_number(call, verb, noun, base)
        self.log(call, "note", f"<Dial> ended: DialCallStatus={extra['DialCallStatus']}")
        if verb.get("action"):
            return Target(
                resolve(base, verb.get("action")), verb.get("method", "POST").upper(), extra
            )
        return None

    def _dial_action_after_hangup(
        self, call: Call, verb: Verb, base: str | None, extra: dict[str, str]
    ) -> None:
        # Twilio still requests the action URL when the caller hangs up during <Dial>;
        # whatever TwiML comes back is not run.
        if verb.get("action"):
            url = resolve(base, verb.get("action"))

            def ignored(result: HttpResult) -> None:
                self.log(call, "note", "action response ignored: the call has ended")

            self.fetch_detached(call, verb.get("method", "POST").upper(), url, extra, ignored)

    def _dial_number(self, call: Call, verb: Verb, noun: Verb, base: str | None) -> DialStep:
        number = noun.text
        if not valid_address(number):
            self.log(call, "error", f"<Dial>: invalid number {number!r}", code=INVALID_DIAL_NUMBER)
            return {"DialCallStatus": "failed"}
        child = self.new_call(
            to=number,
            from_=verb.get("callerId") or call.from_,
            direction="outbound-dial",
            role="dial",
            parent_sid=call.sid,
            timeout=verb.number("timeout", 30),
        )
        child.machine_detection = noun.get("machineDetection") or None
        if noun.get("statusCallback"):
            child.status_callback = resolve(base, noun.get("statusCallback"))
            child.status_callback_method = noun.get("statusCallbackMethod", "POST").upper()
            child.status_callback_events = twiml.events(
                noun.get("statusCallbackEvent", "completed")
            )
        if noun.get("url"):
            self.whisper[child.sid] = Target(
                resolve(base, noun.get("url")),
                noun.get("method", "POST").upper(),
                allowed=twiml.WHISPER_VERBS,
            )
        self.place(child)
        return (yield from self._await_callee(call, verb, base, child))

    def _await_callee(self, call: Call, verb: Verb, base: str | None, child: Call) -> DialStep:
        bridged_at: float | None = None
        status: str | None = None
        limit = verb.number("timeLimit", 14400)
        star = verb.flag("hangupOnStar", False)
        try:
            while status is None:
                remaining = None if bridged_at is None else limit - (self.now() - bridged_at)
                wake = yield Wait(
                    remaining,
                    digits=star and bridged_at is not None,
                    doing=f"dialing {child.to}",
                    channel=child.sid,
                )
                if wake.kind == "signal" and wake.key == "bridged":
                    bridged_at = self.now()
                    self.bridge(call, child)
                elif wake.kind == "signal" and wake.key == "child-ended":
                    status = str(wake.data["status"])
                elif wake.kind == "timeout":
                    self.end(child, "completed", "application", "Dial timeLimit reached")
                    status = "completed"
                elif wake.kind == "digit" and wake.key == "*":
                    self.end(child, "completed", "application", "caller pressed * (hangupOnStar)")
                    status = "completed"
        except Interrupt as interrupt:
            hung_up = isinstance(interrupt, HungUp)
            done = "completed" if bridged_at is not None else "canceled"
            self.end(
                child,
                done,
                "remote" if hung_up else "application",
                "the calling leg hung up" if hung_up else "the calling leg was redirected",
            )
            if hung_up:
                self._dial_action_after_hangup(
                    call, verb, base, self._dial_extra(child, done, bridged_at)
                )
            raise
        return self._dial_extra(child, status, bridged_at)

    def _dial_extra(self, child: Call, status: str, bridged_at: float | None) -> dict[str, str]:
        duration = 0 if bridged_at is None else round(self.now() - bridged_at)
        return {
            "DialCallStatus": status,
            "DialCallSid": child.sid,
            "DialCallDuration": str(duration),
        }

    def bridge(self, a: Call, b: Call) -> None:
        """Connect two legs directly (a <Dial><Number> that was answered)."""
        if a.ended or b.ended:
            return
        a.bridged_with, b.bridged_with = b.sid, a.sid
        self.recompute()

    def _dial_conference(self, call: Call, verb: Verb, noun: Verb, base: str | None) -> DialStep:
        participant = self._member(call, noun)
        if not self._admits(call, self.active_conference(noun.text), participant, noun):
            return {"DialCallStatus": "failed"}
        wait: tuple[str, HttpResult] | None = None
        target = self.wait_target(participant.wait_url)
        if target and self._will_wait(noun.text, participant):
            # As on Twilio, a room whose waitUrl fails is not established: the <Dial> ends
            # and the call goes on to its action (or next verb), where it can recover.
            result = yield from self.fetch_step(call, "POST", target, {}, media=True)
            if self.media_document(call, target, result, "waitUrl") is None:
                self.log(call, "note", f"{noun.text} not joined: its waitUrl failed")
                return {"DialCallStatus": "failed"}
            wait = (target, result)
        conference = self.conference_named(
            noun.text, creator=lambda c: self._noun_callbacks(c, noun, base)
        )
        if not self._admits(call, conference, participant, noun):
            return {"DialCallStatus": "failed"}
        participant.conference_sid = conference.sid
        self.join(conference, call, participant, wait)
        return (yield from self._in_conference(call, verb, base, conference))

    def _member(self, call: Call, noun: Verb) -> Participant:
        return Participant(
            call.sid,
            "",
            label=noun.get("participantLabel") or None,
            start_conference_on_enter=noun.flag("startConferenceOnEnter", True),
            end_conference_on_exit=noun.flag("endConferenceOnExit", False),
            muted=noun.flag("muted", False),
            beep=noun.get("beep", "true"),
            wait_url=noun.get("waitUrl", DEFAULT_WAIT_URL),
            date_created=self.now(),
        )

    def _will_wait(self, name: str, participant: Participant) -> bool:
        """True if a leg joining room `name` now would wait for it to start."""
        conference = self.active_conference(name)
        if conference is None:
            return True
        members = [*conference.participants.values(), participant]
        return not conference.started and not _may_start(members)

    def _admits(
        self, call: Call, conference: Conference | None, participant: Participant, noun: Verb
    ) -> bool:
        """Whether the room takes the leg: not full, and its participantLabel free (16025)."""
        if conference is None:
            return True
        if len(conference.participants) >= int(noun.number("maxParticipants", 250)):
            self.log(call, "note", f"conference {conference.friendly_name} is full")
            return False
        if participant.label and participant.label in self.labels(conference):
            message = f"participantLabel {participant.label!r} is in use in {noun.text}"
            self.log(call, "error", message, code=LABEL_IN_USE)
            return False
        return True

    def labels(self, conference: Conference) -> set[str | None]:
        """The labels of the room's participants, those still ringing included."""
        members = [*conference.participants.values(), *self.pending.values()]
        return {p.label for p in members if p.conference_sid == conference.sid}

    def _in_conference(
        self, call: Call, verb: Verb, base: str | None, conference: Conference
    ) -> DialStep:
        """Stay in the room until it ends, the leg is removed, or * (hangupOnStar).

        Twilio's <Dial> action after a <Conference> carries no DialCallDuration."""
        star = verb.flag("hangupOnStar", False)
        doing = f"in conference {conference.friendly_name}"
        try:
            while True:
                wake = yield Wait(None, digits=star, doing=doing, channel=conference.sid)
                if wake.kind == "digit" and wake.key == "*":
                    self.leave(conference, call, "participant_left_via_hangup_on_star")
                    break
                if wake.kind == "signal":
                    break  # the conference ended or the participant was removed
        except Interrupt as interrupt:
            if call.sid in conference.participants:
                self.leave(conference, call, "participant_updated_via_api")
            if isinstance(interrupt, HungUp):
                self._dial_action_after_hangup(call, verb, base, {"DialCallStatus": "completed"})
            raise
        return {"DialCallStatus": "completed"}

    def _noun_callbacks(self, conference: Conference, noun: Verb, base: str | None) -> None:
        if noun.get("statusCallback"):
            conference.status_callback = resolve(base, noun.get("statusCallback"))
            conference.status_callback_method = noun.get("statusCallbackMethod", "POST").upper()
            conference.status_callback_events = twiml.events(noun.get("statusCallbackEvent", ""))

    # Legs -------------------------------------------------------------------------------

    def new_call(
        self,
        *,
        to: str,
        from_: str,
        direction: str,
        role: str,
        parent_sid: str | None = None,
        timeout: float = 60.0,
        party: str | None = None,
    ) -> Call:
        """Create a leg record (not yet dialed); `party` names an inbound caller."""
        line = self.config.scenario.line(to)
        party = party or (line.name if line else to)
        call = Call(
            new_sid("CA"),
            self.config.account_sid,
            from_,
            to,
            direction,
            party,
            self.now(),
            parent_sid=parent_sid,
            timeout=timeout,
        )
        self.calls[call.sid] = call
        self.roles[call.sid] = role
        self.log(call, "call", f"created {direction} {from_} -> {to}")
        return call

    def forge(self, forgery: Forgery, caller_party: str) -> None:
        """Send a webhook Twilio did not sign, as an attacker would, and record the answer.

        The application must refuse it (403) and change nothing; the timeline shows the
        status so a test, or a person reading it, can check.
        """
        leg = next((c for c in self.calls.values() if c.party == caller_party), None)
        form = {**(self.call_params(leg) if leg else {}), **forgery.params}
        url = resolve(self.config.app_base_url, forgery.path)
        # A token that is not the account's: a well-formed signature that cannot validate.
        signing_token = "" if forgery.signature == "missing" else "not-the-account-token"
        with self.unlocked():
            sent_to, result = self.webhooks.request("POST", url, form, signing_token=signing_token)
        self.log(
            leg,
            "forgery",
            f"forged webhook ({forgery.signature} signature) POST {sent_to} -> "
            f"{result.status or result.error}",
            url=sent_to,
            params=form,
            status=result.status,
        )

    def start_inbound(self, caller: Caller, party: str | None = None) -> Call:
        """The scenario's inbound call reaches the application's number.

        Args:
            caller: who calls and what they do.
            party: the caller's name in the timeline (default: the scenario's caller name).
        """
        app = self.config.scenario.app
        call = self.new_call(
            to=caller.to,
            from_=caller.from_,
            direction="inbound",
            role="inbound",
            party=party or caller.name,
        )
        call.sip_headers = dict(caller.sip_headers)
        call.url, call.method, call.fallback_url = app.voice_url, app.method, app.fallback_url
        call.status_callback = app.status_callback
        call.status_callback_events = app.status_callback_events
        self.set_status(call, "ringing", "ringing")
        self._schedule_actions(call, caller.actions)
        self.start_program(call, Target(app.voice_url, app.method))
        return call

    def place(self, call: Call) -> None:
        """Dial an outbound leg and play its line's scripted behaviour."""
        if call.ended:
            return  # canceled while queued, before it was dialed: it never rings
        self._call_callback(call, "initiated")
        self.set_status(call, "ringing", "ringing")
        attempt = self._attempt_for(call)
        late = attempt.outcome in ANSWERED | {"decline"} and attempt.after >= call.timeout
        if late:
            attempt = Attempt("no-answer", call.timeout)
        if attempt.outcome == "no-answer":
            self.later(
                call,
                call.timeout,
                lambda: self.end(call, "no-answer", "timeout", "nobody answered"),
            )
        elif attempt.outcome in {"busy", "failed", "decline"}:
            status = "failed" if attempt.outcome == "failed" else "busy"
            by = "network" if attempt.outcome == "failed" else "party"
            self.later(call, attempt.after, lambda: self.end(call, status, by, attempt.outcome))
        else:
            self.later(call, attempt.after, lambda: self.answer(call, attempt))

    def _attempt_for(self, call: Call) -> Attempt:
        line = self.config.scenario.line(call.to)
        index = self.dial_counts.get(call.to, 0)
        self.dial_counts[call.to] = index + 1
        if line is None:
            self.log(call, "note", f"{call.to} is not in the scenario: it rings unanswered")
            return Attempt("no-answer", call.timeout)
        return line.attempt(index)

    def answer(self, call: Call, attempt: Attempt) -> None:
        """The line picks up (a person or a voicemail greeting)."""
        call.answered_at = self.now()
        call.human = attempt.outcome in PERSON
        self.set_status(call, "in-progress", "answered")
        if call.human:
            self._schedule_actions(call, attempt.actions)
        else:
            self.later(
                call,
                MACHINE_SECONDS[attempt.outcome],
                lambda: self.end(call, "completed", "party", f"the {attempt.outcome} hung up"),
            )
        delay = 0.0
        if call.machine_detection:
            call.answered_by = self._answered_by(call, attempt.outcome)
            delay = AMD_SECONDS[call.answered_by]
            self.log(call, "note", f"answering machine detection: {call.answered_by}")
        self.later(call, delay, lambda: self._after_answer(call))

    def _answered_by(self, call: Call, outcome: str) -> str:
        """AnsweredBy as Twilio's answering machine detection reports it."""
        if outcome in {"silent", "fax"}:
            return "unknown" if outcome == "silent" else "fax"
        if call.human:
            return "human"
        return (
            "machine_end_beep" if call.machine_detection == "DetectMessageEnd" else "machine_start"
        )

    def _after_answer(self, call: Call) -> None:
        role = self.roles[call.sid]
        if role == "dial":
            target = self.whisper.get(call.sid)
            if target is None:
                self.signal(self.calls[call.parent_sid or ""], call.sid, "bridged")
                self._replace_program(call, self._hold_line())
            else:
                self.start_program(call, target)
        elif role == "participant":
            self._join_pending(call)
        else:
            self.start_program(call, Target(call.url, call.method, twiml=call.twiml))

    def _schedule_actions(self, call: Call, actions: tuple[Any, ...]) -> None:
        for action in actions:
            if action.hangup:
                self.later(call, action.at, partial(self.party_hangup, call))
            else:
                self.later(call, action.at, partial(self.press, call, action.press))

    def party_hangup(self, call: Call) -> None:
        """The person on `call` hangs up."""
        self.log(call, "note", "party hangs up")
        self.end(
            call, "completed" if call.answered_at is not None else "canceled", "party", "hung up"
        )

    # Conferences ----------------------------------------------------------------------

    def conference_named(
        self, name: str, creator: Callable[[Conference], None] | None = None
    ) -> Conference:
        """The active conference with this friendly name, created if there is none.

        Only the participant that creates a conference sets its status callback, as on
        Twilio: settings on later participants are ignored.
        """
        active = self.active_conference(name)
        if active is not None:
            return active
        now = self.now()
        conference = Conference(new_sid("CF"), self.config.account_sid, name, now, now)
        self.conferences[conference.sid] = conference
        if creator is not None:
            creator(conference)
        self.log(None, "conference", f"conference {name} created ({conference.sid})")
        return conference

    def active_conference(self, name: str) -> Conference | None:
        """The room with this friendly name that has not ended, if there is one."""
        for conference in self.conferences.values():
            if conference.friendly_name == name and conference.status != "completed":
                return conference
        return None

    def join(
        self,
        conference: Conference,
        call: Call,
        participant: Participant,
        wait: tuple[str, HttpResult] | None = None,
    ) -> None:
        """A leg enters the room; as on Twilio, the room starts once it holds two
        participants, one of them with startConferenceOnEnter. `wait`: the waitUrl and
        its document, when the leg's <Dial> fetched it before joining."""
        participant.status, participant.joined_at = "connected", self.now()
        participant.date_updated = self.now()
        conference.participants[call.sid] = participant
        flags = (
            f"startConferenceOnEnter={_bool(participant.start_conference_on_enter)} "
            f"endConferenceOnExit={_bool(participant.end_conference_on_exit)}"
        )
        self.log(
            call,
            "conference",
            f"joins {conference.friendly_name} ({flags})",
            conference=conference.friendly_name,
        )
        self.conference_event(conference, "participant-join", call, participant)
        if participant.beep in {"true", "onEnter"}:
            self.log(None, "media", f"beep in {conference.friendly_name}")
        if not conference.started and _may_start(list(conference.participants.values())):
            conference.status, conference.updated_at = "in-progress", self.now()
            self.conference_event(conference, "conference-start")
        if conference.started:
            pass
        elif wait is not None:
            self._play_wait(call, participant, *wait, "")
        else:
            self._wait_music(call, participant)
        self.recompute()

    def _wait_music(self, call: Call, participant: Participant) -> None:
        """Fetch and check what a waiting participant hears (the conference's waitUrl).

        As on Twilio, the document is played, its Redirect followed (or the waitUrl fetched
        again when it ends without one) for as long as the participant waits for the room
        to start. Each document is validated (only Say, Play, Pause and Redirect may run
        there); what is heard is recorded when it changes, so an application can show its
        callers never wait in silence, and what it tells them while they wait. A URL
        outside the application (Twilio's own hold music) is only recorded.
        """
        target = self.wait_target(participant.wait_url)
        if not target:
            self._heard(call, participant.wait_url or "silence")
            return
        self._fetch_wait(call, participant, target, "")

    def wait_target(self, url: str | None) -> str:
        """The absolute waitUrl to fetch, or "" when it is none or outside the application
        (Twilio's own hold music, only recorded)."""
        target = resolve(self.config.app_base_url, url) if url else ""
        return target if target.startswith(self.config.app_base_url.rstrip("/") + "/") else ""

    def _fetch_wait(self, call: Call, participant: Participant, url: str, before: str) -> None:
        heard = partial(self._play_wait, call, participant, url, before=before)
        self.fetch_detached(call, "POST", url, {}, heard, media=True)

    def _play_wait(
        self, call: Call, participant: Participant, url: str, result: HttpResult, before: str
    ) -> None:
        """Play one waitUrl document: its media, then its Redirect. As on Twilio, a document
        that ends without a Redirect is not fetched again: silence follows."""
        text, verbs = self._document_heard(call, url, result, "waitUrl")
        if text != before:
            self._heard(call, text)
        if not verbs:
            return  # silence until the room starts: nothing more is fetched
        redirect = next((v for v in verbs if v.name == "Redirect"), None)
        # Media up to the Redirect, at least a second: a document of only a Redirect
        # would otherwise loop without time passing.
        played = verbs[: verbs.index(redirect)] if redirect is not None else verbs
        lengths = [self.media_seconds(v) for v in played]
        if None in lengths:
            return  # a loop="0": it plays until the room starts
        seconds = max(1.0, sum(x or 0.0 for x in lengths))
        following = resolve(url, redirect.text) if redirect is not None else ""
        self.later(call, seconds, partial(self._still_waiting, call, participant, following, text))

    def _still_waiting(self, call: Call, participant: Participant, url: str, heard: str) -> None:
        conference = self.conferences.get(participant.conference_sid)
        if conference is None or conference.started:
            return
        if conference.participants.get(call.sid) is not participant:
            return
        if not url:
            self._heard(call, "silence (the waitUrl document ended without a Redirect)")
        elif not self.wait_target(url):
            self._heard(call, url)
        else:
            self._fetch_wait(call, participant, url, heard)

    def _heard(self, call: Call, heard: str) -> None:
        self.log(call, "media", f"waits for the conference to start, hearing {heard}")

    def _document_heard(
        self, call: Call, url: str, result: HttpResult, what: str
    ) -> tuple[str, list[Verb]]:
        """What a waitUrl or announceUrl document makes a participant hear, checked, and its
        verbs (none when it failed or is invalid)."""
        verbs = self.media_document(call, url, result, what)
        if verbs is None:
            failed = "failed" if not result.ok else "document is invalid"
            return f"silence (the {what} {failed})", []
        return _spoken(verbs) or f"silence (an empty {what} document)", verbs

    def media_document(
        self, call: Call, url: str, result: HttpResult, what: str
    ) -> list[Verb] | None:
        """The verbs of a waitUrl or announceUrl document, or None (logged) when the request
        failed or the document is not one that may run there."""
        if not result.ok:
            self.log(call, "error", f"{what} {url}: {result.error or result.status}", url=url)
            return None
        try:
            return twiml.parse(result.body, twiml.WAIT_URL_VERBS)
        except TwimlError as exc:
            self.log(call, "error", f"{what} {url}: {exc.message}", code=exc.code, url=url)
            return None

    def announce(self, call: Call, url: str) -> None:
        """A participant's announceUrl: fetched after the REST update returns, as on Twilio.

        What it says is recorded (only Say, Play, Pause and Redirect may run there), so an
        application can show what the caller was told; a URL outside the application is
        only recorded.
        """
        target = resolve(self.config.app_base_url, url)
        if not target.startswith(self.config.app_base_url.rstrip("/") + "/"):
            self.log(call, "media", f"hears an announcement from {url} (not fetched)")
            return

        def fetch() -> None:
            if call.ended:
                return

            def heard(result: HttpResult) -> None:
                text, _ = self._document_heard(call, target, result, "announceUrl")
                self.log(call, "media", f"hears the announcement {text}")

            self.fetch_detached(call, "POST", target, {}, heard, media=True)

        self.soon(fetch, "announce")

    def leave(self, conference: Conference, call: Call, reason: str) -> None:
        """A leg leaves; ends the room if it was the moderator or the last one in."""
        participant = conference.participants.pop(call.sid, None)
        if participant is None:
            return
        participant.status, participant.date_updated = "complete", self.now()
        self.log(call, "conference", f"leaves {conference.friendly_name} ({reason})")
        self.conference_event(
            conference,
            "participant-leave",
            call,
            participant,
            ReasonParticipantLeft=reason,
            ParticipantCallStatus=call.status,
        )
        if participant.end_conference_on_exit:
            self.end_conference(
                conference, "participant-with-end-conference-on-exit-left", call.sid
            )
        elif not conference.participants:
            self.end_conference(conference, "last-participant-left", call.sid)
        self.recompute()

    def end_conference(self, conference: Conference, reason: str, call_sid: str | None) -> None:
        """End the room for everyone still in it."""
        if conference.status == "completed":
            return
        conference.status, conference.updated_at = "completed", self.now()
        conference.reason_ended, conference.call_sid_ending = reason, call_sid
        leave_reason = (
            "conference_ended_via_api"
            if reason == "conference-ended-via-api"
            else "moderator_ended_conference"
        )
        for sid, participant in list(conference.participants.items()):
            conference.participants.pop(sid)
            participant.status = "complete"
            member = self.calls[sid]
            self.log(member, "conference", f"removed: {conference.friendly_name} ended")
            self.conference_event(
                conference,
                "participant-leave",
                member,
                participant,
                ReasonParticipantLeft=leave_reason,
                ParticipantCallStatus=member.status,
            )
            if participant.via_api:
                self.end(member, "completed", "application", "its conference ended")
            else:
                self.signal(member, conference.sid, "conference-ended")
        self.conference_event(
            conference,
            "conference-end",
            ReasonConferenceEnded=reason,
            CallSidEndingConference=call_sid or "",
        )
        self.recompute()

    def conference_event(
        self,
        conference: Conference,
        event: str,
        call: Call | None = None,
        participant: Participant | None = None,
        **extra: str,
    ) -> None:
        """Record a conference event and send it if the conference subscribed to it."""
        self.log(
            call,
            "conference",
            f"{event} {conference.friendly_name}",
            conference_sid=conference.sid,
            **extra,
        )
        short = _EVENT_GROUPS[event]
        if not conference.status_callback or short not in conference.status_callback_events:
            return
        form = {
            "AccountSid": conference.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(conference.callback_seq),
            "Timestamp": self.date(self.now()) or "",
        }
        conference.callback_seq += 1
        if call is not None and participant is not None:
            form.update(
                {
                    "CallSid": call.sid,
                    "Muted": _bool(participant.muted),
                    "Hold": _bool(participant.hold),
                    "Coaching": "false",
                    "EndConferenceOnExit": _bool(participant.end_conference_on_exit),
                    "StartConferenceOnEnter": _bool(participant.start_conference_on_enter),
                }
            )
            if participant.label:
                form["ParticipantLabel"] = participant.label
        form.update(extra)
        self.send_callback(
            call, conference.status_callback, conference.status_callback_method, form
        )

    def _join_pending(self, call: Call) -> None:
        participant = self.pending.pop(call.sid, None)
        if participant is None:
            return
        conference = self.conferences[participant.conference_sid]
        if conference.status == "completed":
            self.log(call, "note", f"{conference.friendly_name} ended before this leg answered")
            conference = self.conference_named(conference.friendly_name)
            participant.conference_sid = conference.sid
        self.join(conference, call, participant)

    def set_hold(
        self, conference: Conference, participant: Participant, hold: bool, hold_url: str | None
    ) -> None:
        """Put a participant on hold (they hear hold music and nobody hears them) or back."""
        if participant.hold == hold:
            return
        participant.hold, participant.date_updated = hold, self.now()
        call = self.calls[participant.call_sid]
        music = f", hearing {hold_url or DEFAULT_WAIT_URL}" if hold else ""
        self.log(call, "conference", f"{'on hold' if hold else 'off hold'}{music}")
        self.conference_event(
            conference, "participant-hold" if hold else "participant-unhold", call, participant
        )
        self.recompute()

    def set_muted(self, conference: Conference, participant: Participant, muted: bool) -> None:
        """Mute or unmute a participant (they still hear the room)."""
        if participant.muted == muted:
            return
        participant.muted, participant.date_updated = muted, self.now()
        call = self.calls[participant.call_sid]
        self.conference_event(
            conference, "participant-mute" if muted else "participant-unmute", call, participant
        )

    # Who hears whom ---------------------------------------------------------------------

    def recompute(self) -> None:
        """Bring the timeline's connection intervals up to date with the calls' state."""
        pairs: set[frozenset[str]] = set()
        for call in self.calls.values():
            peer = self.calls.get(call.bridged_with or "")
            if peer is not None and call.live and peer.live:
                pairs.add(frozenset({call.sid, peer.sid}))
        for conference in self.conferences.values():
            if not conference.started:
                continue
            members = [
                sid
                for sid, p in conference.participants.items()
                if not p.hold and self.calls[sid].live
            ]
            pairs.update(frozenset({a, b}) for i, a in enumerate(members) for b in members[i + 1 :])
        now = self.now()
        current = self.timeline.open_pairs()
        for gone in current - pairs:
            a, b = sorted(gone)
            self.timeline.disconnect(now, a, b)
        order = {sid: index for index, sid in enumerate(self.calls)}
        # Older leg first, so "caller <-> center" reads the same on every run.
        fresh = [sorted(pair, key=order.__getitem__) for pair in pairs - current]
        for a, b in sorted(fresh, key=lambda pair: (order[pair[0]], order[pair[1]])):
            self.timeline.connect(now, (a, self.calls[a].party), (b, self.calls[b].party))


_INSTANT_VERBS = frozenset({"Redirect", "Hangup", "Reject"})


class _Gather:
    """Key collection for one <Gather>: numDigits, finishOnKey and timeout."""

    def __init__(self, verb: Verb) -> None:
        self.num_digits = int(verb.number("numDigits", 0)) or None
        self.finish_on = verb.get("finishOnKey", "#")
        self.timeout = verb.number("timeout", 5)
        self.digits = ""
        self.finished_on = ""
        self.done = False

    def take(self, key: str) -> None:
        """Add one key press."""
        if self.finish_on and key == self.finish_on:
            self.finished_on, self.done = key, True
            return
        self.digits += key
        if self.num_digits is not None and len(self.digits) >= self.num_digits:
            self.done = True


_EVENT_GROUPS = {
    "conference-start": "start",
    "conference-end": "end",
    "participant-join": "join",
    "participant-leave": "leave",
    "participant-hold": "hold",
    "participant-unhold": "hold",
    "participant-mute": "mute",
    "participant-unmute": "mute",
    "participant-modify": "modify",
    "announcement-end": "announcement",
    "announcement-fail": "announcement",
}


def _may_start(members: list[Participant]) -> bool:
    """Twilio starts a room once two are in it, one of them with startConferenceOnEnter."""
    return len(members) >= 2 and any(p.start_conference_on_enter for p in members)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _spoken(verbs: list[Verb]) -> str:
    """What a Say/Play/Pause/Redirect document sounds like, for the timeline."""
    return ", then ".join(f'"{v.text}"' if v.name == "Say" else v.describe() for v in verbs)
