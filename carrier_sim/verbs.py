"""The TwiML verbs, except <Dial><Conference> (joining.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carrier_sim import twiml
from carrier_sim.control import DialStep, HungUp, Interrupt, Step, Target
from carrier_sim.model import Call, Wait, valid_address
from carrier_sim.twiml import Verb
from carrier_sim.webhooks import HttpResult, resolve

if TYPE_CHECKING:
    from carrier_sim.engine import Engine

SAY_WORDS_PER_SECOND = 2.5
INVALID_DIAL_NUMBER = 13224


class Verbs:
    """Each verb a program runs: media, Gather, Redirect, Hangup, Reject and Dial."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        return loop * self.engine.config.scenario.play_seconds

    def _media(self, call: Call, verb: Verb) -> None:
        what = {"Say": f'says "{verb.text}"', "Play": f"plays {verb.text}"}
        self.engine.log(call, "media", what.get(verb.name, f"pauses {verb.get('length', '1')} s"))

    def verb_say(self, call: Call, verb: Verb, base: str | None) -> Step:
        self._media(call, verb)
        yield Wait(self.media_seconds(verb), doing=verb.name)
        return None

    verb_play = verb_say
    verb_pause = verb_say

    def verb_redirect(self, call: Call, verb: Verb, base: str | None) -> Target | None:
        return Target(resolve(base, verb.text), verb.get("method", "POST").upper())

    def verb_hangup(self, call: Call, verb: Verb, base: str | None) -> Target | None:
        self.engine.legs.end(call, "completed", "application", "<Hangup>")
        return None

    def verb_reject(self, call: Call, verb: Verb, base: str | None) -> Target | None:
        # Both reasons leave the call unanswered; the simulator reports it as busy.
        status = "busy" if call.answered_at is None else "completed"
        self.engine.legs.end(
            call, status, "application", f"<Reject reason={verb.get('reason', 'rejected')}>"
        )
        return None

    def verb_gather(self, call: Call, verb: Verb, base: str | None) -> Step:
        gather = Gather(verb)
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
            self.engine.log(call, "note", "Gather got no input; continuing with the next verb")
            return None
        action = resolve(base, verb.get("action") or base or "")
        extra = {"Digits": gather.digits}
        if gather.finished_on:
            extra["FinishedOnKey"] = gather.finished_on
        return Target(action, verb.get("method", "POST").upper(), extra)

    def verb_dial(self, call: Call, verb: Verb, base: str | None) -> Step:
        noun = verb.children[0] if verb.children else Verb("Number", {}, verb.text)
        if noun.name == "Conference":
            extra = yield from self.engine.joining.dial_conference(call, verb, noun, base)
        else:
            extra = yield from self._dial_number(call, verb, noun, base)
        self.engine.log(call, "note", f"<Dial> ended: DialCallStatus={extra['DialCallStatus']}")
        if verb.get("action"):
            return Target(
                resolve(base, verb.get("action")), verb.get("method", "POST").upper(), extra
            )
        return None

    def dial_action_after_hangup(
        self, call: Call, verb: Verb, base: str | None, extra: dict[str, str]
    ) -> None:
        # Twilio still requests the action URL when the caller hangs up during <Dial>;
        # whatever TwiML comes back is not run.
        if verb.get("action"):
            url = resolve(base, verb.get("action"))

            def ignored(result: HttpResult) -> None:
                self.engine.log(call, "note", "action response ignored: the call has ended")

            self.engine.http.fetch_detached(
                call, verb.get("method", "POST").upper(), url, extra, ignored
            )

    def _dial_number(self, call: Call, verb: Verb, noun: Verb, base: str | None) -> DialStep:
        number = noun.text
        if not valid_address(number):
            self.engine.log(
                call, "error", f"<Dial>: invalid number {number!r}", code=INVALID_DIAL_NUMBER
            )
            return {"DialCallStatus": "failed"}
        child = self.engine.legs.new_call(
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
            self.engine.whisper[child.sid] = Target(
                resolve(base, noun.get("url")),
                noun.get("method", "POST").upper(),
                allowed=twiml.WHISPER_VERBS,
            )
        self.engine.legs.place(child)
        return (yield from self._await_callee(call, verb, base, child))

    def _await_callee(self, call: Call, verb: Verb, base: str | None, child: Call) -> DialStep:
        bridged_at: float | None = None
        status: str | None = None
        limit = verb.number("timeLimit", 14400)
        star = verb.flag("hangupOnStar", False)
        try:
            while status is None:
                remaining = None if bridged_at is None else limit - (self.engine.now() - bridged_at)
                wake = yield Wait(
                    remaining,
                    digits=star and bridged_at is not None,
                    doing=f"dialing {child.to}",
                    channel=child.sid,
                )
                if wake.kind == "signal" and wake.key == "bridged":
                    bridged_at = self.engine.now()
                    self.bridge(call, child)
                elif wake.kind == "signal" and wake.key == "child-ended":
                    status = str(wake.data["status"])
                elif wake.kind == "timeout":
                    self.engine.legs.end(
                        child, "completed", "application", "Dial timeLimit reached"
                    )
                    status = "completed"
                elif wake.kind == "digit" and wake.key == "*":
                    self.engine.legs.end(
                        child, "completed", "application", "caller pressed * (hangupOnStar)"
                    )
                    status = "completed"
        except Interrupt as interrupt:
            hung_up = isinstance(interrupt, HungUp)
            done = "completed" if bridged_at is not None else "canceled"
            self.engine.legs.end(
                child,
                done,
                "remote" if hung_up else "application",
                "the calling leg hung up" if hung_up else "the calling leg was redirected",
            )
            if hung_up:
                self.dial_action_after_hangup(
                    call, verb, base, self._dial_extra(child, done, bridged_at)
                )
            raise
        return self._dial_extra(child, status, bridged_at)

    def _dial_extra(self, child: Call, status: str, bridged_at: float | None) -> dict[str, str]:
        duration = 0 if bridged_at is None else round(self.engine.now() - bridged_at)
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
        self.engine.recompute()


class Gather:
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
