"""Running TwiML: each answered call's program, its wake-ups and interruptions.

A program is a generator that yields a `Wait` and is resumed with a `Wake` (see
engine.py for the concurrency model). Documents are fetched, parsed and run verb by
verb; the verbs themselves are in verbs.py and joining.py.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from typing import TYPE_CHECKING, Any

from carrier_sim import twiml
from carrier_sim.control import HungUp, Interrupt, Redirected, Step, Target
from carrier_sim.model import Call, Program, Wait, Wake
from carrier_sim.twiml import TwimlError, Verb
from carrier_sim.webhooks import INVALID_CONTENT_TYPE, resolve

if TYPE_CHECKING:
    from carrier_sim.engine import Engine

TWIML_TYPES = frozenset({"text/xml", "application/xml", "text/html"})
APPLICATION_ERROR_MESSAGE = "We are sorry, an application error has occurred. Goodbye."
_INSTANT_VERBS = frozenset({"Redirect", "Hangup", "Reject"})


class Programs:
    """Starts, steps, interrupts and redirects the calls' TwiML programs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start_program(self, call: Call, target: Target) -> None:
        """Run TwiML on an answered (or inbound ringing) call, replacing what it ran."""
        self.replace_program(call, self._program(call, target))

    def replace_program(self, call: Call, program: Program) -> None:
        # The first step is scheduled, not run here: the caller may be the old program.
        call.program, call.waiting = program, None
        call.wait_token += 1

        def first_step() -> None:
            if call.program is program:
                self.resume(call, Wake("start"))

        self.engine.soon(first_step, "start program")

    def redirect(self, call: Call, target: Target) -> None:
        """Give an answered call new TwiML (a REST update with Url or Twiml)."""
        self.engine.log(call, "note", "redirected via the REST API")
        peer = self.engine.calls.get(call.bridged_with or "")
        if peer is not None and call.parent_sid == peer.sid:
            # A callee taken out of a <Dial> bridge: the caller's <Dial> completes.
            call.bridged_with = peer.bridged_with = None
            self.signal(peer, call.sid, "child-ended", status="completed")
            call.parent_sid = None
        for conference in list(self.engine.conferences.values()):
            member = conference.participants.get(call.sid)
            if member is not None and member.via_api:
                self.engine.rooms.leave(conference, call, "participant_updated_via_api")
        if (
            call.program is not None
            and call.waiting is not None
            and call.waiting.channel != "bridged"
        ):
            self.throw(call, Redirected(target))
        else:
            self.start_program(call, target)
        self.engine.recompute()

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

        self.engine.soon(deliver, "interrupt")

    def signal(self, call: Call, channel: str, name: str, **data: Any) -> None:
        """Wake a program that waits on `channel` (e.g. a <Dial> waiting on its callee)."""

        def deliver() -> None:
            if self.engine.http.fetching(call):
                self.engine.held.setdefault(call.sid, []).append(deliver)
            elif call.waiting is not None and call.waiting.channel == channel:
                self.resume(call, Wake("signal", name, data))

        self.engine.soon(deliver, name)

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
        if call.sid in self.engine.wait_timers:
            self.engine.wait_timers.pop(call.sid).cancel()
        if wait.seconds is None:
            return
        token = call.wait_token

        def expire() -> None:
            if call.wait_token == token and call.waiting is wait:
                self.resume(call, Wake("timeout"))

        self.engine.wait_timers[call.sid] = self.engine.scheduler.call_later(
            wait.seconds, expire, "wait"
        )

    def press(self, call: Call, keys: str) -> None:
        """The party on `call` presses `keys`."""
        for key in keys:
            self.engine.soon(partial(self._key, call, key), "dtmf")

    def _key(self, call: Call, key: str, pressed_at: float | None = None) -> None:
        pressed_at = self.engine.now() if pressed_at is None else pressed_at
        if self.engine.http.fetching(call) and not call.ended:
            held = partial(self._key, call, key, pressed_at)
            self.engine.held.setdefault(call.sid, []).append(held)
            return
        listening = call.waiting is not None and call.waiting.digits and not call.ended
        self.engine.log(
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
        if call.sid in self.engine.whisper:
            # A whisper that ends without hanging up connects the callee to the caller.
            del self.engine.whisper[call.sid]
            parent = self.engine.calls[call.parent_sid or ""]
            self.signal(parent, call.sid, "bridged")
            self.replace_program(call, self.hold_line())
            return
        self.engine.legs.end(call, "completed", "application", "no more TwiML to run")

    def hold_line(self) -> Program:
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
                self.engine.log(call, "error", error.message, code=error.code)
                return None, None
        assert target.url is not None
        url = resolve(self.engine.config.app_base_url, target.url)
        verbs, code = yield from self._fetch_document(
            call, target.method, url, target.extra, target.allowed
        )
        if verbs is not None:
            return verbs, url
        if call.fallback_url and not call.ended:
            fallback = resolve(self.engine.config.app_base_url, call.fallback_url)
            extra = {**target.extra, "ErrorCode": str(code), "ErrorUrl": url}
            self.engine.log(call, "note", f"requesting fallback URL after error {code}")
            verbs, _ = yield from self._fetch_document(
                call, call.fallback_method, fallback, extra, target.allowed
            )
            if verbs is not None:
                return verbs, fallback
        return None, None

    def _fetch_document(
        self, call: Call, method: str, url: str, extra: dict[str, str], allowed: frozenset[str]
    ) -> Generator[Wait, Wake, tuple[list[Verb] | None, int]]:
        result = yield from self.engine.http.fetch_step(call, method, url, extra)
        if not result.ok:
            self.engine.log(
                call, "error", f"{url}: {result.error}", code=result.error_code, url=url
            )
            return None, result.error_code
        if result.content_type not in TWIML_TYPES:
            message = f"{url}: content type {result.content_type!r} is not TwiML"
            self.engine.log(call, "error", message, code=INVALID_CONTENT_TYPE, url=url)
            return None, INVALID_CONTENT_TYPE
        try:
            return twiml.parse(result.body, allowed), 0
        except TwimlError as error:
            self.engine.log(call, "error", f"{url}: {error.message}", code=error.code, url=url)
            return None, error.code

    def _application_error(self, call: Call) -> None:
        if call.ended:
            return
        self.engine.log(call, "media", f'says "{APPLICATION_ERROR_MESSAGE}"')
        self.engine.legs.end(call, "completed", "application", "application error")

    def _run_document(
        self, call: Call, verbs: list[Verb], base: str | None, allowed: frozenset[str]
    ) -> Step:
        """Run verbs in order; return where to continue, or None at the end."""
        for verb in verbs:
            if call.ended:
                return None
            self.engine.log(call, "verb", verb.describe())
            self._answer_if_ringing(call, verb)
            target: Target | None
            if verb.name in _INSTANT_VERBS:
                target = getattr(self.engine.verbs, f"verb_{verb.name.lower()}")(call, verb, base)
            else:
                target = yield from getattr(self.engine.verbs, f"verb_{verb.name.lower()}")(
                    call, verb, base
                )
            if target is not None:
                target.allowed = allowed
                return target
            if call.ended:
                return None
        return None

    def _answer_if_ringing(self, call: Call, verb: Verb) -> None:
        # An inbound call is answered by the first verb that plays to the caller.
        if call.status == "ringing" and verb.name not in {"Reject", "Redirect", "Hangup"}:
            call.answered_at = self.engine.now()
            self.engine.legs.set_status(call, "in-progress", "answered")
