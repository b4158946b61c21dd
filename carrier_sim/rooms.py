"""Conference rooms: who is in them, when they start and end, and their events."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from carrier_sim.model import Call, Conference, Participant, new_sid
from carrier_sim.webhooks import HttpResult

if TYPE_CHECKING:
    from carrier_sim.engine import Engine

DEFAULT_WAIT_URL = "http://twimlets.com/holdmusic?Bucket=com.twilio.music.classical"


class Rooms:
    """The conference rooms and their participants."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        now = self.engine.now()
        conference = Conference(new_sid("CF"), self.engine.config.account_sid, name, now, now)
        self.engine.conferences[conference.sid] = conference
        if creator is not None:
            creator(conference)
        self.engine.log(None, "conference", f"conference {name} created ({conference.sid})")
        return conference

    def active_conference(self, name: str) -> Conference | None:
        """The room with this friendly name that has not ended, if there is one."""
        for conference in self.engine.conferences.values():
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
        participant.status, participant.joined_at = "connected", self.engine.now()
        participant.date_updated = self.engine.now()
        conference.participants[call.sid] = participant
        flags = (
            f"startConferenceOnEnter={_bool(participant.start_conference_on_enter)} "
            f"endConferenceOnExit={_bool(participant.end_conference_on_exit)}"
        )
        self.engine.log(
            call,
            "conference",
            f"joins {conference.friendly_name} ({flags})",
            conference=conference.friendly_name,
        )
        self.conference_event(conference, "participant-join", call, participant)
        if participant.beep in {"true", "onEnter"}:
            self.engine.log(None, "media", f"beep in {conference.friendly_name}")
        if not conference.started and may_start(list(conference.participants.values())):
            conference.status, conference.updated_at = "in-progress", self.engine.now()
            self.conference_event(conference, "conference-start")
        if conference.started:
            pass
        elif wait is not None:
            self.engine.media.play_wait(call, participant, *wait, "")
        else:
            self.engine.media.wait_music(call, participant)
        self.engine.recompute()

    def leave(self, conference: Conference, call: Call, reason: str) -> None:
        """A leg leaves; ends the room if it was the moderator or the last one in."""
        participant = conference.participants.pop(call.sid, None)
        if participant is None:
            return
        participant.status, participant.date_updated = "complete", self.engine.now()
        self.engine.log(call, "conference", f"leaves {conference.friendly_name} ({reason})")
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
        self.engine.recompute()

    def end_conference(self, conference: Conference, reason: str, call_sid: str | None) -> None:
        """End the room for everyone still in it."""
        if conference.status == "completed":
            return
        conference.status, conference.updated_at = "completed", self.engine.now()
        conference.reason_ended, conference.call_sid_ending = reason, call_sid
        leave_reason = (
            "conference_ended_via_api"
            if reason == "conference-ended-via-api"
            else "moderator_ended_conference"
        )
        for sid, participant in list(conference.participants.items()):
            conference.participants.pop(sid)
            participant.status = "complete"
            member = self.engine.calls[sid]
            self.engine.log(member, "conference", f"removed: {conference.friendly_name} ended")
            self.conference_event(
                conference,
                "participant-leave",
                member,
                participant,
                ReasonParticipantLeft=leave_reason,
                ParticipantCallStatus=member.status,
            )
            if participant.via_api:
                self.engine.legs.end(member, "completed", "application", "its conference ended")
            else:
                self.engine.programs.signal(member, conference.sid, "conference-ended")
        self.conference_event(
            conference,
            "conference-end",
            ReasonConferenceEnded=reason,
            CallSidEndingConference=call_sid or "",
        )
        self.engine.recompute()

    def conference_event(
        self,
        conference: Conference,
        event: str,
        call: Call | None = None,
        participant: Participant | None = None,
        **extra: str,
    ) -> None:
        """Record a conference event and send it if the conference subscribed to it."""
        self.engine.log(
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
            "Timestamp": self.engine.date(self.engine.now()) or "",
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
        self.engine.http.send_callback(
            call, conference.status_callback, conference.status_callback_method, form
        )

    def join_pending(self, call: Call) -> None:
        participant = self.engine.pending.pop(call.sid, None)
        if participant is None:
            return
        conference = self.engine.conferences[participant.conference_sid]
        if conference.status == "completed":
            self.engine.log(
                call, "note", f"{conference.friendly_name} ended before this leg answered"
            )
            conference = self.conference_named(conference.friendly_name)
            participant.conference_sid = conference.sid
        self.join(conference, call, participant)

    def set_hold(
        self, conference: Conference, participant: Participant, hold: bool, hold_url: str | None
    ) -> None:
        """Put a participant on hold (they hear hold music and nobody hears them) or back."""
        if participant.hold == hold:
            return
        participant.hold, participant.date_updated = hold, self.engine.now()
        call = self.engine.calls[participant.call_sid]
        music = f", hearing {hold_url or DEFAULT_WAIT_URL}" if hold else ""
        self.engine.log(call, "conference", f"{'on hold' if hold else 'off hold'}{music}")
        self.conference_event(
            conference, "participant-hold" if hold else "participant-unhold", call, participant
        )
        self.engine.recompute()

    def set_muted(self, conference: Conference, participant: Participant, muted: bool) -> None:
        """Mute or unmute a participant (they still hear the room)."""
        if participant.muted == muted:
            return
        participant.muted, participant.date_updated = muted, self.engine.now()
        call = self.engine.calls[participant.call_sid]
        self.conference_event(
            conference, "participant-mute" if muted else "participant-unmute", call, participant
        )


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


def may_start(members: list[Participant]) -> bool:
    """Twilio starts a room once two are in it, one of them with startConferenceOnEnter."""
    return len(members) >= 2 and any(p.start_conference_on_enter for p in members)


def _bool(value: bool) -> str:
    return "true" if value else "false"
