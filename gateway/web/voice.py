"""Twilio's webhooks: thin views over `TransferService`, each signed and each safe.

Every view is guarded by `twilio_signed` (403 before anything runs) and by one of three
"answer safely" wrappers, so Twilio never sees a 5xx, whatever fails (Redis gone, a bug):

- the caller's leg gets TwiML that keeps it up with 911 (`twiml.fallback`);
- a center's leg is told the transfer could not be completed and is hung up;
- a status callback gets an empty 200, so Twilio does not retry what will never work.

Configure the gateway number's Voice URL as `/voice`, its fallback URL as
`/voice/fallback` and its status callback as `/voice/status` (docs/call-flow.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import wraps

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse

from gateway.adapters import twiml
from gateway.services.escalation import STILL_CALLING, UNREACHED, EscalationRef
from gateway.web.context import gateway
from gateway.web.security import twilio_signed

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__, url_prefix="/voice")

_TRANSFER_ID = re.compile(r"^tr_[0-9a-f]{16}$")
View = Callable[[], VoiceResponse | None]


def _xml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _form() -> dict[str, str]:
    """Twilio's parameters: the form for POST, the query string for GET."""
    return (request.form if request.method == "POST" else request.args).to_dict()


def _transfer_id() -> str:
    value = request.args.get("t", "")
    if not _TRANSFER_ID.match(value):
        raise ValueError("no valid transfer id in the webhook URL")
    return value


def _index(name: str = "a") -> int:
    return int(request.args.get(name, ""))


def _safely(on_error: Callable[[], VoiceResponse]) -> Callable[[View], Callable[[], Response]]:
    def decorate(view: View) -> Callable[[], Response]:
        @wraps(view)
        def answered() -> Response:
            try:
                return _xml(view() or twiml.empty())
            except Exception:
                log.exception("webhook %s failed; answered safely", request.path)
                return _xml(on_error())

        return answered

    return decorate


def _keep_caller() -> VoiceResponse:
    return twiml.fallback(_form().get("CallSid", "unknown"), gateway().service.links)


def _release_center() -> VoiceResponse:
    return twiml.goodbye("Sorry, this transfer could not be completed. Goodbye.")


def _counselor_link() -> tuple[str, int] | None:
    """The transfer id and attempt a counselor's webhook URL carries, if well formed."""
    transfer_id = request.args.get("t", "")
    if not _TRANSFER_ID.match(transfer_id):
        return None
    attempt = request.args.get("a", "0")
    return transfer_id, int(attempt) if attempt.isdigit() else 0


def _back_to_caller() -> VoiceResponse:
    """A counselor in the * menu goes back to the caller's room, whatever failed."""
    link = _counselor_link()
    if link is None:
        return _release_center()
    transfer_id, index = link
    room = f"transfer-{transfer_id}"
    links = gateway().service.links
    return twiml.counselor_joins(links, transfer_id, index, room, "Returning you to the caller.")


def _menu_anyway() -> VoiceResponse:
    """A counselor who pressed * hears the menu, whatever failed: hanging up on them could
    leave the caller alone in the room. The menu brings them back (or says 911 could not be
    called) on its own."""
    link = _counselor_link()
    if link is None:
        return _release_center()
    return twiml.counselor_menu(gateway().service.links, *link)


def _wait_args() -> tuple[str, int | None]:
    """The waitUrl's transfer id and deadline; anything malformed is left out."""
    transfer_id, deadline = request.args.get("t", ""), request.args.get("d", "")
    return (
        transfer_id if _TRANSFER_ID.match(transfer_id) else "",
        int(deadline) if deadline.isdigit() else None,
    )


def _wait_anyway() -> VoiceResponse:
    """The wait message, whatever failed: a waitUrl document may only Say, Play, Pause and
    Redirect, so the caller leg's usual fallback (a <Dial>) would not play there."""
    return twiml.wait_message(gateway().service.links, twiml.wait_query(*_wait_args()))


caller_leg = _safely(_keep_caller)
waiting_leg = _safely(_wait_anyway)
center_leg = _safely(_release_center)
counselor_leg = _safely(_back_to_caller)
counselor_out = _safely(_menu_anyway)
callback = _safely(twiml.empty)
joining_leg = _safely(lambda: twiml.announcement(twiml.JOINING_MESSAGE))


# -- the caller's leg (the PSAP's line, with the caller on it) ---------------------------


@bp.route("", methods=["GET", "POST"])
@twilio_signed
@caller_leg
def inbound() -> VoiceResponse:
    """The gateway number's Voice URL."""
    return gateway().service.inbound(_form())


@bp.post("/menu")
@twilio_signed
@caller_leg
def menu() -> VoiceResponse:
    """The call-taker keyed a transfer code, a ZIP code, or # (Gather action)."""
    return gateway().service.keyed.menu(_form(), _index("tries"))


@bp.post("/wait")
@twilio_signed
@waiting_leg
def wait() -> VoiceResponse:
    """The conference waitUrl: a short spoken message while 988 is rung."""
    transfer_id, deadline_at = _wait_args()
    return gateway().service.waiting(transfer_id, deadline_at)


@bp.post("/joining")
@twilio_signed
@joining_leg
def joining() -> VoiceResponse:
    """The waitUrl of a counselor or 911 line that reached the room before the caller."""
    return twiml.joining_message(gateway().service.links)


@bp.post("/caller-done")
@twilio_signed
@caller_leg
def caller_done() -> VoiceResponse:
    """The caller's <Dial><Conference> ended (action URL)."""
    return gateway().service.caller_done(_transfer_id(), _form())


@bp.post("/returned")
@twilio_signed
@caller_leg
def returned() -> VoiceResponse:
    """Where the caller's leg is redirected when no center could take the caller."""
    return gateway().service.returned_twiml(_transfer_id())


@bp.post("/held")
@twilio_signed
@caller_leg
def held() -> VoiceResponse:
    """The held room's <Dial> ended (action URL)."""
    transfer_id = request.args.get("t", "")
    if transfer_id and not _TRANSFER_ID.match(transfer_id):
        transfer_id = ""
    return gateway().service.held_done(transfer_id, _form())


@bp.route("/fallback", methods=["GET", "POST"])
@twilio_signed
@caller_leg
def fallback() -> VoiceResponse:
    """The number's fallback URL: static, stateless, keeps the caller with 911."""
    return _keep_caller()


@bp.post("/announce")
@twilio_signed
@caller_leg
def announce() -> VoiceResponse:
    """Played to the caller's leg once a counselor has joined."""
    response = VoiceResponse()
    response.say("A 9 8 8 counselor is connected. 9 1 1 may now leave the call.")
    return response


@bp.post("/announce/stay")
@twilio_signed
@caller_leg
def announce_stay() -> VoiceResponse:
    """Played to the caller while the counselor is in the escalation menu (a few seconds)."""
    return twiml.announcement("Your counselor is still with you. Please stay on the line.")


@bp.post("/status")
@twilio_signed
@callback
def status() -> None:
    """The gateway number's status callback (the caller's leg ended)."""
    gateway().service.inbound_status(_form())


@bp.post("/conference")
@twilio_signed
@callback
def conference() -> None:
    """Conference status callback: joins and leaves."""
    gateway().service.conference_event(_transfer_id(), _form())


# -- a center's leg ----------------------------------------------------------------------


@bp.post("/whisper")
@twilio_signed
@center_leg
def whisper() -> VoiceResponse:
    """A center answered: answering machine detection is done, the whisper starts."""
    return gateway().service.counselors.whisper(_transfer_id(), _index(), _form())


@bp.post("/whisper/answer")
@twilio_signed
@center_leg
def whisper_answer() -> VoiceResponse:
    """The counselor's key (Gather action)."""
    return gateway().service.counselors.whisper_answer(
        _transfer_id(), _index(), _form(), _index("r")
    )


@bp.post("/counselor-done")
@twilio_signed
@counselor_out
def counselor_done() -> VoiceResponse:
    """The counselor's <Dial><Conference> ended (action URL): * pressed, or the call ended."""
    return gateway().service.counselors.counselor_done(_transfer_id(), _index(), _form())


@bp.post("/call-ended")
@twilio_signed
@center_leg
def call_ended() -> VoiceResponse:
    """Where a counselor's or a 911 line's leg is sent when the caller has left without it."""
    return twiml.goodbye(twiml.CALL_ENDED)


@bp.post("/counselor-menu")
@twilio_signed
@counselor_leg
def counselor_menu() -> VoiceResponse:
    """The counselor's key in the * menu (Gather action): 9 brings 911 back."""
    return gateway().escalations.counselor_menu(_transfer_id(), _index(), _form())


@bp.post("/fallback/center")
@twilio_signed
@center_leg
def center_fallback() -> VoiceResponse:
    """A center leg's fallback URL: release it; its status callback rolls the transfer on."""
    return _release_center()


@bp.post("/center-status")
@twilio_signed
@callback
def center_status() -> None:
    """A center leg's status callback."""
    gateway().service.centers.leg_status(_transfer_id(), _index(), _form())


# -- a PSAP escalation leg (bounce-back to 911) --------------------------------------------


@bp.post("/escalation/whisper")
@twilio_signed
@center_leg
def escalation_whisper() -> VoiceResponse:
    """A PSAP line answered an escalation: machine detection is done, the whisper starts."""
    ref = EscalationRef.from_query(request.args)
    return gateway().escalations.whisper(_transfer_id(), _index("e"), _form(), ref)


@bp.post("/escalation/answer")
@twilio_signed
@center_leg
def escalation_answer() -> VoiceResponse:
    """The 911 call-taker's key (Gather action): 1 joins the caller and the counselor."""
    ref = EscalationRef.from_query(request.args)
    escalations = gateway().escalations
    return escalations.whisper_answer(_transfer_id(), _index("e"), _form(), _index("r"), ref)


@bp.post("/escalation/done")
@twilio_signed
@center_leg
def escalation_done() -> VoiceResponse:
    """The 911 call-taker's <Dial><Conference> ended (action URL)."""
    return gateway().escalations.psap_done(_transfer_id(), _index("e"), _form())


@bp.post("/escalation/status")
@twilio_signed
@callback
def escalation_status() -> None:
    """An escalation leg's status callback."""
    gateway().escalations.leg_status(_transfer_id(), _index("e"), _form())


@bp.post("/escalation/unreached")
@twilio_signed
@center_leg
def escalation_unreached() -> VoiceResponse:
    """Announced to the counselor when no 911 line could be reached."""
    return twiml.announcement(UNREACHED)


@bp.post("/escalation/still-calling")
@twilio_signed
@center_leg
def escalation_still_calling() -> VoiceResponse:
    """Announced to the counselor when 911 has not answered for two rounds of its lines."""
    return twiml.announcement(STILL_CALLING)
