"""<Dial><Conference>: whether a leg may join a room, and its stay there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carrier_sim import twiml
from carrier_sim.control import DialStep, HungUp, Interrupt
from carrier_sim.model import Call, Conference, Participant, Wait
from carrier_sim.rooms import DEFAULT_WAIT_URL, may_start
from carrier_sim.twiml import Verb
from carrier_sim.webhooks import HttpResult, resolve

if TYPE_CHECKING:
    from carrier_sim.engine import Engine


LABEL_IN_USE = 16025


class Joining:
    """Admits a TwiML leg to a conference room, as Twilio's rules say."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def dial_conference(self, call: Call, verb: Verb, noun: Verb, base: str | None) -> DialStep:
        participant = self._member(call, noun)
        if not self._admits(
            call, self.engine.rooms.active_conference(noun.text), participant, noun
        ):
            return {"DialCallStatus": "failed"}
        wait: tuple[str, HttpResult] | None = None
        target = self.engine.media.wait_target(participant.wait_url)
        if target and self._will_wait(noun.text, participant):
            # As on Twilio, a room whose waitUrl fails is not established: the <Dial> ends
            # and the call goes on to its action (or next verb), where it can recover.
            result = yield from self.engine.http.fetch_step(call, "POST", target, {}, media=True)
            if self.engine.media.media_document(call, target, result, "waitUrl") is None:
                self.engine.log(call, "note", f"{noun.text} not joined: its waitUrl failed")
                return {"DialCallStatus": "failed"}
            wait = (target, result)
        conference = self.engine.rooms.conference_named(
            noun.text, creator=lambda c: self._noun_callbacks(c, noun, base)
        )
        if not self._admits(call, conference, participant, noun):
            return {"DialCallStatus": "failed"}
        participant.conference_sid = conference.sid
        self.engine.rooms.join(conference, call, participant, wait)
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
            date_created=self.engine.now(),
        )

    def _will_wait(self, name: str, participant: Participant) -> bool:
        """True if a leg joining room `name` now would wait for it to start."""
        conference = self.engine.rooms.active_conference(name)
        if conference is None:
            return True
        members = [*conference.participants.values(), participant]
        return not conference.started and not may_start(members)

    def _admits(
        self, call: Call, conference: Conference | None, participant: Participant, noun: Verb
    ) -> bool:
        """Whether the room takes the leg: not full, and its participantLabel free (16025)."""
        if conference is None:
            return True
        if len(conference.participants) >= int(noun.number("maxParticipants", 250)):
            self.engine.log(call, "note", f"conference {conference.friendly_name} is full")
            return False
        if participant.label and participant.label in self.labels(conference):
            message = f"participantLabel {participant.label!r} is in use in {noun.text}"
            self.engine.log(call, "error", message, code=LABEL_IN_USE)
            return False
        return True

    def labels(self, conference: Conference) -> set[str | None]:
        """The labels of the room's participants, those still ringing included."""
        members = [*conference.participants.values(), *self.engine.pending.values()]
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
                    self.engine.rooms.leave(conference, call, "participant_left_via_hangup_on_star")
                    break
                if wake.kind == "signal":
                    break  # the conference ended or the participant was removed
        except Interrupt as interrupt:
            if call.sid in conference.participants:
                self.engine.rooms.leave(conference, call, "participant_updated_via_api")
            if isinstance(interrupt, HungUp):
                self.engine.verbs.dial_action_after_hangup(
                    call, verb, base, {"DialCallStatus": "completed"}
                )
            raise
        return {"DialCallStatus": "completed"}

    def _noun_callbacks(self, conference: Conference, noun: Verb, base: str | None) -> None:
        if noun.get("statusCallback"):
            conference.status_callback = resolve(base, noun.get("statusCallback"))
            conference.status_callback_method = noun.get("statusCallbackMethod", "POST").upper()
            conference.status_callback_events = twiml.events(noun.get("statusCallbackEvent", ""))
