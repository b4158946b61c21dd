"""Every TwiML document the gateway returns, built with twilio's VoiceResponse only.

Two rules hold for every document given to the caller's leg (the PSAP's line with the
caller on it): it never ends in <Hangup>, and it never simply runs out of verbs. A leg
whose TwiML runs out is hung up by Twilio, which is the gateway dropping a caller. So
every <Dial> on the caller's leg has an action URL, and every fallback parks the leg in a
room of its own until 911 hangs up.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse
from werkzeug.routing import Map

# Only the conference events the flow acts on (a counselor or 911 joining, the caller
# leaving): each subscribed event is one more webhook per call under load.
CONFERENCE_EVENTS = "join leave"
WHISPER_TIMEOUT_S = 8
MENU_TIMEOUT_S = 10
MENU_TRIES_BEFORE_PARKING = 3
# The counselor's * menu: the caller is in the room without the counselor while it plays,
# so it is one short sentence and a short wait, and no key means "back to the caller".
COUNSELOR_MENU_TIMEOUT_S = 4

WAIT_MESSAGE = "Please stay on the line. We are connecting a 9 8 8 crisis counselor."
# The wait message loops: said (13 words, about 5 s), then this pause, then fetched again.
WAIT_PAUSE_S = 8
# So a fetch comes at most this long after the one before (with a second to spare).
WAIT_LOOP_S = 14
# What a counselor or a 911 line hears if it reaches the room before the caller's leg is
# in it: Twilio starts a room only with two participants, and without a waitUrl a lone
# participant hears Twilio's hold music, which sounds like a call on hold, not a caller.
JOINING_MESSAGE = "Please hold. The caller is joining."
STAY_WITH_911 = "9 1 1 stays on the line with the caller. You may hang up this line when ready."
NOT_REACHED = f"We could not reach a 9 8 8 counselor. {STAY_WITH_911}"


class Links:
    """Absolute webhook URLs, built from the views (`url_for`'s rules) and the public base
    URL Twilio reaches us at, in a request or outside one (an after-response thread, the
    worker's watchdog).

    Args:
        base: PUBLIC_BASE_URL, e.g. "https://gateway.example.org" (a path prefix is kept).
        url_map: the app's URL rules, once its blueprints are registered.
    """

    def __init__(self, base: str, url_map: Map) -> None:
        parts = urlsplit(base)
        self.base = base
        self._urls = url_map.bind(
            parts.netloc, script_name=parts.path.rstrip("/") or "/", url_scheme=parts.scheme
        )

    def url(self, endpoint: str, **query: str | int) -> str:
        """The absolute URL of the view `endpoint` ("voice.whisper"), with `query`."""
        return self._urls.build(endpoint, query, force_external=True)


def caller_waits(
    links: Links, transfer_id: str, room: str, deadline_at: float | None, *, wait_url: bool = True
) -> VoiceResponse:
    """The caller's leg waits in the transfer's room, hearing a spoken message.

    startConferenceOnEnter=false: the room (and the wait message) runs until a counselor
    joins. endConferenceOnExit=true is on this leg only: when the caller hangs up, the
    counselor's leg is released; when anyone else leaves, the caller stays.

    wait_url=False: the message is said once before the room, which has no waitUrl. On
    Twilio a room whose waitUrl fails is not joined; going back with the same waitUrl
    would fail again at once, over and over.
    """
    response = VoiceResponse()
    if not wait_url:
        response.say(WAIT_MESSAGE)
    # Otherwise no <Say> first: the leg joins at once and hears the wait message in the
    # room, so a counselor who answers quickly never waits for the caller.
    dial = Dial(action=links.url("voice.caller_done", t=transfer_id))
    waits_at = links.url("voice.wait", **wait_query(transfer_id, deadline_at)) if wait_url else ""
    dial.conference(
        room,
        start_conference_on_enter=False,
        end_conference_on_exit=True,
        beep=False,
        wait_url=waits_at,
        wait_method="POST",
        status_callback=links.url("voice.conference", t=transfer_id),
        status_callback_event=CONFERENCE_EVENTS,
        participant_label="caller",
    )
    response.append(dial)
    return response


def wait_query(transfer_id: str, deadline_at: float | None) -> dict[str, str | int]:
    """The waitUrl's query: the transfer, and its deadline for when its state is out of reach."""
    query: dict[str, str | int] = {"t": transfer_id} if transfer_id else {}
    if deadline_at:
        query["d"] = int(deadline_at)
    return query


def wait_message(
    links: Links, query: Mapping[str, str | int], text: str = WAIT_MESSAGE
) -> VoiceResponse:
    """What the waiting caller and call-taker hear: a short message, not silence.

    A waitUrl document may only Say, Play, Pause and Redirect; Twilio fetches the Redirect
    (this URL again) when it has played, for as long as the leg waits.
    """
    response = VoiceResponse()
    response.say(text)
    response.pause(length=WAIT_PAUSE_S)
    response.redirect(links.url("voice.wait", **query), method="POST")
    return response


def joining_message(links: Links) -> VoiceResponse:
    """The waitUrl document of a counselor or 911 line waiting for the caller's leg."""
    response = VoiceResponse()
    response.say(JOINING_MESSAGE)
    response.pause(length=5)
    response.redirect(links.url("voice.joining"), method="POST")
    return response


def stays_with_911(message: str, room: str, links: Links, transfer_id: str = "") -> VoiceResponse:
    """Tell 911 what happened and keep the leg up, silent, until 911 hangs it up."""
    response = VoiceResponse()
    response.say(message)
    query = {"t": transfer_id} if transfer_id else {}
    dial = Dial(action=links.url("voice.held", **query))
    dial.conference(
        room,
        start_conference_on_enter=True,
        end_conference_on_exit=True,
        beep=False,
        wait_url="",
    )
    response.append(dial)
    return response


def fallback(call_sid: str, links: Links) -> VoiceResponse:
    """The caller leg's fallback document: no state needed, never hangs up."""
    message = f"Please stay on the line. {STAY_WITH_911}"
    return stays_with_911(message, f"held-{call_sid}", links)


def menu(links: Links, tries: int, prefix: str = "") -> VoiceResponse:
    """Ask the call-taker for a transfer code, a ZIP code, or # for their own area."""
    response = VoiceResponse()
    if tries >= MENU_TRIES_BEFORE_PARKING:
        text = f"{prefix} No transfer was found. {STAY_WITH_911} To try again, enter a code."
    else:
        text = (
            f"{prefix} 9 8 8 transfer line. Enter the 6 digit transfer code, then pound. "
            "With no transfer registered, enter the caller's 5 digit ZIP code then pound, "
            "or press pound alone to route by your own area. "
            "To give 9 8 8 the caller's callback number, key star and its 10 digits "
            "before pound."
        )
    gather = Gather(
        action=links.url("voice.menu", tries=tries + 1),
        method="POST",
        finish_on_key="#",
        timeout=MENU_TIMEOUT_S if tries < MENU_TRIES_BEFORE_PARKING else 30,
        action_on_empty_result=True,
    )
    gather.say(text.strip())
    response.append(gather)
    return response


def whisper(links: Links, transfer_id: str, attempt: int, text: str, repeat: int) -> VoiceResponse:
    """The counselor's whisper: who is calling, and press 1 to accept or 2 to decline."""
    action = links.url("voice.whisper_answer", t=transfer_id, a=attempt, r=repeat)
    return _one_key(action, text, WHISPER_TIMEOUT_S)


def _one_key(action: str, text: str, timeout_s: int) -> VoiceResponse:
    """Say `text` while waiting for one key; the key (or none) goes to `action`."""
    response = VoiceResponse()
    gather = Gather(
        action=action,
        method="POST",
        num_digits=1,
        timeout=timeout_s,
        action_on_empty_result=True,
    )
    gather.say(text)
    response.append(gather)
    return response


def counselor_joins(
    links: Links,
    transfer_id: str,
    attempt: int,
    room: str,
    message: str = "Connecting you to the caller. 9 1 1 is on the line.",
) -> VoiceResponse:
    """An accepting counselor joins the caller's room (and starts it), or goes back to it.

    hangupOnStar: the counselor's * leaves the room for the escalation menu
    (`counselor_menu`); the <Dial>'s action URL decides whether that was a * (the caller is
    still there) or the end of the call.
    """
    response = VoiceResponse()
    response.say(message)
    dial = Dial(
        action=links.url("voice.counselor_done", t=transfer_id, a=attempt), hangup_on_star=True
    )
    # The counselor may create the room if the caller's leg is slow to join: the status
    # callback is set here too, so conference events fire whichever leg comes first.
    dial.conference(
        room,
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        beep=False,
        wait_url=links.url("voice.joining"),
        wait_method="POST",
        status_callback=links.url("voice.conference", t=transfer_id),
        status_callback_event=CONFERENCE_EVENTS,
        participant_label="counselor",
    )
    response.append(dial)
    return response


def counselor_menu(links: Links, transfer_id: str, attempt: int) -> VoiceResponse:
    """The counselor pressed *: 9 brings 911 back, any other key (or none) returns them."""
    action = links.url("voice.counselor_menu", t=transfer_id, a=attempt)
    text = "Press 9 to bring 9 1 1 back, or any other key to return to the caller."
    return _one_key(action, text, COUNSELOR_MENU_TIMEOUT_S)


def escalation_whisper(
    links: Links,
    transfer_id: str,
    index: int,
    text: str,
    repeat: int,
    ref: Mapping[str, int] | None = None,
) -> VoiceResponse:
    """What a PSAP's escalation line hears: who asks for 911, where, and press 1 to join.

    `ref` (which escalation and which of the PSAP's numbers, `EscalationRef.query`) rides
    along in the action URL: the 1 is recorded from it when the live state is gone.
    """
    action = links.url("voice.escalation_answer", t=transfer_id, e=index, r=repeat, **(ref or {}))
    return _one_key(action, text, WHISPER_TIMEOUT_S)


def psap_joins(links: Links, transfer_id: str, index: int, room: str) -> VoiceResponse:
    """A 911 call-taker who pressed 1 joins the caller and the counselor.

    endConferenceOnExit=false: 911 leaving never ends the room for caller and counselor.
    """
    response = VoiceResponse()
    response.say("Joining the caller and the 9 8 8 counselor.")
    dial = Dial(action=links.url("voice.escalation_done", t=transfer_id, e=index))
    # The status callback only counts if this leg starts the room: a new, empty one, when
    # the caller's ended a moment ago (see transfers._outside_the_room).
    dial.conference(
        room,
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        beep=False,
        wait_url=links.url("voice.joining"),
        wait_method="POST",
        participant_label="911-escalation",
        status_callback=links.url("voice.conference", t=transfer_id),
        status_callback_event=CONFERENCE_EVENTS,
    )
    response.append(dial)
    return response


def announcement(message: str) -> VoiceResponse:
    """An announceUrl document: one sentence played into a room or to a participant."""
    response = VoiceResponse()
    response.say(message)
    return response


CALL_ENDED = "The call has ended. Thank you."


def goodbye(message: str) -> VoiceResponse:
    """For a center's leg only (never the caller's): say something and hang up."""
    response = VoiceResponse()
    if message:
        response.say(message)
    response.hangup()
    return response


def empty() -> VoiceResponse:
    """An empty document, for webhooks whose answer Twilio ignores."""
    return VoiceResponse()


def spoken_number(number: str) -> str:
    """A phone number as a person should hear it read out: "8 1 6, 5 5 5, 0 1 2 3"."""
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return " ".join(digits)
    groups = (digits[:3], digits[3:6], digits[6:])
    return ", ".join(" ".join(group) for group in groups)
