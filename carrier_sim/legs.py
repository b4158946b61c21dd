"""Call legs: creating, dialing, answering and ending them, as the scenario scripts."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from carrier_sim.control import HungUp, Target
from carrier_sim.model import Call, new_sid
from carrier_sim.scenario import ANSWERED, PERSON, Attempt, Caller

if TYPE_CHECKING:
    from carrier_sim.engine import Engine

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


class Legs:
    """The life of each call leg, from creation to its final status."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def set_status(self, call: Call, status: str, event: str | None = None) -> None:
        """Change a leg's status and send its status callback if subscribed."""
        if call.status != status:
            call.status = status
            self.engine.log(call, "call", status)
        if status == "ringing" and call.started_at is None:
            call.started_at = self.engine.now()
        if event is not None:
            self._call_callback(call, event)

    def _call_callback(self, call: Call, event: str) -> None:
        if not call.status_callback or event not in call.status_callback_events:
            return
        form = self.engine.http.call_params(call)
        form["CallStatus"] = "initiated" if event == "initiated" else call.status
        form.update(
            {
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(call.callback_seq),
                "Timestamp": self.engine.date(self.engine.now()) or "",
            }
        )
        if call.ended:
            form["CallDuration"] = str(self._talk_seconds(call))
        call.callback_seq += 1
        self.engine.http.send_callback(
            call, call.status_callback, call.status_callback_method, form
        )

    def _talk_seconds(self, call: Call) -> int:
        if call.answered_at is None:
            return 0
        end = call.ended_at if call.ended_at is not None else self.engine.now()
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
        for timer in self.engine.timers.pop(call.sid, []):
            timer.cancel()
        if call.sid in self.engine.wait_timers:
            self.engine.wait_timers.pop(call.sid).cancel()
        call.ended_at, call.ended_by, call.end_reason = self.engine.now(), ended_by, reason
        self.set_status(call, status)
        self.engine.log(call, "note", f"ended by {ended_by}: {reason}")
        self._drop_from_conferences(call)
        peer = self.engine.calls.get(call.bridged_with or "")
        if peer is not None:
            peer.bridged_with = call.bridged_with = None
        if call.parent_sid:
            self.engine.programs.signal(
                self.engine.calls[call.parent_sid], call.sid, "child-ended", status=status
            )
        self._call_callback(call, "completed")
        self.engine.programs.throw(call, HungUp())
        self.engine.recompute()

    def _drop_from_conferences(self, call: Call) -> None:
        self.engine.pending.pop(call.sid, None)
        for conference in list(self.engine.conferences.values()):
            if call.sid in conference.participants:
                self.engine.rooms.leave(conference, call, "participant_hung_up")

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
        line = self.engine.config.scenario.line(to)
        party = party or (line.name if line else to)
        call = Call(
            new_sid("CA"),
            self.engine.config.account_sid,
            from_,
            to,
            direction,
            party,
            self.engine.now(),
            parent_sid=parent_sid,
            timeout=timeout,
        )
        self.engine.calls[call.sid] = call
        self.engine.roles[call.sid] = role
        self.engine.log(call, "call", f"created {direction} {from_} -> {to}")
        return call

    def start_inbound(self, caller: Caller, party: str | None = None) -> Call:
        """The scenario's inbound call reaches the application's number.

        Args:
            caller: who calls and what they do.
            party: the caller's name in the timeline (default: the scenario's caller name).
        """
        app = self.engine.config.scenario.app
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
        self.engine.programs.start_program(call, Target(app.voice_url, app.method))
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
            self.engine.later(
                call,
                call.timeout,
                lambda: self.end(call, "no-answer", "timeout", "nobody answered"),
            )
        elif attempt.outcome in {"busy", "failed", "decline"}:
            status = "failed" if attempt.outcome == "failed" else "busy"
            by = "network" if attempt.outcome == "failed" else "party"
            self.engine.later(
                call, attempt.after, lambda: self.end(call, status, by, attempt.outcome)
            )
        else:
            self.engine.later(call, attempt.after, lambda: self.answer(call, attempt))

    def _attempt_for(self, call: Call) -> Attempt:
        line = self.engine.config.scenario.line(call.to)
        index = self.engine.dial_counts.get(call.to, 0)
        self.engine.dial_counts[call.to] = index + 1
        if line is None:
            self.engine.log(call, "note", f"{call.to} is not in the scenario: it rings unanswered")
            return Attempt("no-answer", call.timeout)
        return line.attempt(index)

    def answer(self, call: Call, attempt: Attempt) -> None:
        """The line picks up (a person or a voicemail greeting)."""
        call.answered_at = self.engine.now()
        call.human = attempt.outcome in PERSON
        self.set_status(call, "in-progress", "answered")
        if call.human:
            self._schedule_actions(call, attempt.actions)
        else:
            self.engine.later(
                call,
                MACHINE_SECONDS[attempt.outcome],
                lambda: self.end(call, "completed", "party", f"the {attempt.outcome} hung up"),
            )
        delay = 0.0
        if call.machine_detection:
            call.answered_by = self._answered_by(call, attempt.outcome)
            delay = AMD_SECONDS[call.answered_by]
            self.engine.log(call, "note", f"answering machine detection: {call.answered_by}")
        self.engine.later(call, delay, lambda: self._after_answer(call))

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
        role = self.engine.roles[call.sid]
        if role == "dial":
            target = self.engine.whisper.get(call.sid)
            if target is None:
                self.engine.programs.signal(
                    self.engine.calls[call.parent_sid or ""], call.sid, "bridged"
                )
                self.engine.programs.replace_program(call, self.engine.programs.hold_line())
            else:
                self.engine.programs.start_program(call, target)
        elif role == "participant":
            self.engine.rooms.join_pending(call)
        else:
            self.engine.programs.start_program(
                call, Target(call.url, call.method, twiml=call.twiml)
            )

    def _schedule_actions(self, call: Call, actions: tuple[Any, ...]) -> None:
        for action in actions:
            if action.hangup:
                self.engine.later(call, action.at, partial(self.party_hangup, call))
            else:
                self.engine.later(
                    call, action.at, partial(self.engine.programs.press, call, action.press)
                )

    def party_hangup(self, call: Call) -> None:
        """The person on `call` hangs up."""
        self.engine.log(call, "note", "party hangs up")
        self.end(
            call, "completed" if call.answered_at is not None else "canceled", "party", "hung up"
        )
