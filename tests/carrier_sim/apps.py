"""Small TwiML applications the simulator's tests play calls against.

They are written the way the gateway will be: an app factory, TwiML only through
VoiceResponse, the Twilio client passed in, and every webhook's signature checked and
recorded so tests can assert on what Twilio sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PSAP = "+17855550101"
GATEWAY_NUMBER = "+17855550150"
CENTER_A = "+17855550160"
CENTER_B = "+17855550161"
SUPERVISOR = "+17855550170"


@dataclass
class Seen:
    """What the app received: every webhook's path and form, and signature verdicts."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    bad_signatures: int = 0

    def forms(self, path: str) -> list[dict[str, str]]:
        """The forms posted to `path`, in arrival order."""
        return [form for seen_path, form in self.requests if seen_path == path]


def _checked(app: Flask, seen: Seen, token: str) -> None:
    validator = RequestValidator(token)

    @app.before_request
    def verify() -> None:
        form = request.form.to_dict()
        seen.requests.append((request.path, form | request.args.to_dict()))
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(request.url, request.form, signature):
            seen.bad_signatures += 1
            abort(403)


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def warm_transfer_app(
    client: Callable[[], Client],
    seen: Seen,
    centers: tuple[str, ...] = (CENTER_A, CENTER_B),
    token: str = AUTH_TOKEN,
    base: str = "https://gateway.test",
) -> Flask:
    """A 911 -> 988 warm transfer: caller on hold in a conference, center whispered.

    The caller leg waits in room "transfer-<CallSid>" (startConferenceOnEnter=false); each
    center in turn is called with the REST API and hears a whisper; pressing 1 joins the
    room and starts it. If every center fails, the caller hears that 911 stays on the line.
    """
    app = Flask(__name__)
    _checked(app, seen, token)
    state: dict[str, str] = {}

    @app.post("/voice")
    def voice() -> Response:
        caller = request.form["CallSid"]
        state["caller"] = caller
        _call_center(client(), caller, 0)
        response = VoiceResponse()
        response.say("Connecting you to the crisis line.")
        dial = Dial()
        dial.conference(
            f"transfer-{caller}",
            start_conference_on_enter=False,
            end_conference_on_exit=True,
            wait_url="",
            status_callback="/conference-events",
            status_callback_event="start end join leave",
        )
        response.append(dial)
        response.say("The transfer has ended.")
        return _twiml(response)

    @app.post("/whisper")
    def whisper() -> Response:
        response = VoiceResponse()
        if request.form.get("AnsweredBy", "human") != "human":
            response.hangup()
            return _twiml(response)
        gather = Gather(num_digits=1, action=f"/accept?caller={request.args['caller']}", timeout=8)
        gather.say("Transfer from 9 1 1. Press 1 to accept.")
        response.append(gather)
        response.say("No answer received. Goodbye.")
        response.hangup()
        return _twiml(response)

    @app.post("/accept")
    def accept() -> Response:
        response = VoiceResponse()
        if request.form.get("Digits") == "1":
            state[f"accepted:{request.form['CallSid']}"] = "yes"
            dial = Dial()
            dial.conference(
                f"transfer-{request.args['caller']}",
                start_conference_on_enter=True,
                end_conference_on_exit=False,
            )
            response.append(dial)
        else:
            response.say("Declined. Goodbye.")
            response.hangup()
        return _twiml(response)

    @app.post("/center-status")
    def center_status() -> str:
        index = int(request.args["index"])
        accepted = state.get(f"accepted:{request.form['CallSid']}") == "yes"
        if not accepted and state.get(f"done:{request.form['CallSid']}") is None:
            state[f"done:{request.form['CallSid']}"] = "yes"  # callbacks may repeat
            caller = request.args["caller"]
            if index + 1 < len(centers):
                _call_center(client(), caller, index + 1)
            else:
                fallback = VoiceResponse()
                fallback.say("No crisis center is available. 9 1 1 stays on the line.")
                client().calls(caller).update(twiml=str(fallback))
        return ""

    @app.post("/conference-events")
    def conference_events() -> str:
        return ""

    @app.post("/status")
    def status() -> str:
        return ""

    def _call_center(twilio: Client, caller: str, index: int) -> None:
        twilio.calls.create(
            to=centers[index],
            from_=GATEWAY_NUMBER,
            url=f"{base}/whisper?caller={caller}",
            status_callback=f"{base}/center-status?caller={caller}&index={index}",
            status_callback_event=["completed"],
            timeout=20,
            machine_detection="Enable",
        )

    return app


def twiml_app(documents: dict[str, str], seen: Seen, token: str = AUTH_TOKEN) -> Flask:
    """An app that answers each path with a fixed TwiML document (or 500 if absent)."""
    app = Flask(__name__)
    _checked(app, seen, token)

    @app.route("/<path:path>", methods=["GET", "POST"])
    def document(path: str) -> Response:
        body = documents.get(f"/{path}")
        if body is None:
            return Response("", status=200 if path.endswith("status") else 500)
        return Response(body, mimetype="text/xml")

    return app


Hook = Callable[[dict[str, str]], None]


def scripted_app(
    documents: dict[str, str], seen: Seen, hooks: dict[str, Hook], token: str = AUTH_TOKEN
) -> Flask:
    """Like `twiml_app`, but runs a hook (e.g. a REST request) before answering a path."""
    app = twiml_app(documents, seen, token)

    @app.before_request
    def run_hook() -> None:
        hook = hooks.get(request.path)
        if hook is not None:
            hook(request.form.to_dict())

    return app


def cli_app(sim: object) -> Flask:
    """The factory `gateway simulate --app tests.carrier_sim.apps:cli_app` uses."""
    from carrier_sim.simulator import Simulator

    assert isinstance(sim, Simulator)
    return warm_transfer_app(sim.twilio_client, Seen())
