"""The subset of Twilio's REST API (2010-04-01) the gateway uses, as a small Flask app.

Responses use Twilio's JSON shapes, status codes and error bodies, so the official twilio
client works against it unchanged. Requests carrying a parameter Twilio accepts but this
simulator does not play are refused with a 400, never quietly ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from carrier_sim.engine import Engine, Target
from carrier_sim.model import CALL_EVENTS, CONFERENCE_EVENTS, Call, Conference, Participant
from carrier_sim.model import valid_address as _valid_address


def _names(*words: str) -> frozenset[str]:
    return frozenset(" ".join(words).split())


API = "/2010-04-01/Accounts/<account_sid>"
NOT_FOUND = 20404
AUTHENTICATE = 20003
UNSIMULATED_PARAMETER = 20001  # the simulator's own; see docs/simulator.md
INVALID_TO = 21211
INVALID_FROM = 21212
URL_REQUIRED = 21205
NOT_IN_PROGRESS = 21220
INVALID_TIMEOUT = 21208
INVALID_CALLBACK_EVENT = 21626
INVALID_PARAMETER = 21201  # for a malformed value Twilio has no more precise code for

CALL_CREATE = _names(
    "To From Url Method Twiml FallbackUrl FallbackMethod StatusCallback StatusCallbackMethod "
    "StatusCallbackEvent Timeout MachineDetection"
)
CALL_UPDATE = _names(
    "Url Method Twiml Status FallbackUrl FallbackMethod StatusCallback StatusCallbackMethod"
)
PARTICIPANT_CREATE = _names(
    "From To Label StatusCallback StatusCallbackMethod StatusCallbackEvent Timeout EarlyMedia "
    "StartConferenceOnEnter EndConferenceOnExit Beep Muted WaitUrl WaitMethod MachineDetection "
    "ConferenceStatusCallback ConferenceStatusCallbackMethod ConferenceStatusCallbackEvent "
    "CallerId"
)
PARTICIPANT_UPDATE = _names(
    "Hold HoldUrl HoldMethod Muted AnnounceUrl AnnounceMethod EndConferenceOnExit BeepOnExit "
    "WaitUrl WaitMethod"
)
CONFERENCE_LIST = frozenset({"FriendlyName", "Status", "PageSize", "Page", "PageToken"})


class ApiError(Exception):
    """A Twilio error response."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def create_rest_app(engine: Callable[[], Engine], account_sid: str, auth_token: str) -> Flask:
    """The REST API as a WSGI app.

    Args:
        engine: returns the engine of the current run (a new one per run).
        account_sid: the only account this API serves.
        auth_token: the password for HTTP basic authentication.
    """
    app = Flask("carrier_sim.rest")
    api = Blueprint("api", __name__, url_prefix=API)
    views = _Views(engine)

    @app.before_request
    def authenticate() -> Response | None:
        engine().scheduler.touch()  # the application is at work: let it finish first
        auth = request.authorization
        if auth is None or (auth.username, auth.password) != (account_sid, auth_token):
            return _error(ApiError(401, AUTHENTICATE, "Authenticate"))
        if (request.view_args or {}).get("account_sid", account_sid) != account_sid:
            return _error(
                ApiError(404, NOT_FOUND, f"The requested resource {request.path} was not found")
            )
        return None

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return _error(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        if code == 404:
            return _error(
                ApiError(404, NOT_FOUND, f"The requested resource {request.path} was not found")
            )
        return _error(ApiError(code, code * 100, error.description or "error"))

    api.add_url_rule("/Calls.json", view_func=views.create_call, methods=["POST"])
    api.add_url_rule("/Calls/<sid>.json", view_func=views.fetch_call, methods=["GET"])
    api.add_url_rule(
        "/Calls/<sid>.json", view_func=views.update_call, methods=["POST"], endpoint="update_call"
    )
    api.add_url_rule(
        "/Calls/<sid>.json", view_func=views.delete_call, methods=["DELETE"], endpoint="delete_call"
    )
    api.add_url_rule("/Conferences.json", view_func=views.list_conferences, methods=["GET"])
    api.add_url_rule("/Conferences/<sid>.json", view_func=views.fetch_conference, methods=["GET"])
    api.add_url_rule(
        "/Conferences/<sid>.json",
        view_func=views.update_conference,
        methods=["POST"],
        endpoint="update_conference",
    )
    api.add_url_rule(
        "/Conferences/<sid>/Participants.json", view_func=views.add_participant, methods=["POST"]
    )
    api.add_url_rule(
        "/Conferences/<sid>/Participants.json",
        view_func=views.list_participants,
        methods=["GET"],
        endpoint="list_participants",
    )
    api.add_url_rule(
        "/Conferences/<sid>/Participants/<who>.json",
        view_func=views.participant,
        methods=["GET", "POST", "DELETE"],
    )
    app.register_blueprint(api)
    return app


def _error(error: ApiError) -> Response:
    response = jsonify(
        {
            "code": error.code,
            "message": error.message,
            "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
            "status": error.status,
        }
    )
    response.status_code = error.status
    return response


def _params(allowed: frozenset[str]) -> dict[str, list[str]]:
    """The request's parameters, refusing any the simulator does not play."""
    source = request.args if request.method == "GET" else request.form
    params = {key: source.getlist(key) for key in source}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ApiError(
            400,
            UNSIMULATED_PARAMETER,
            f"Parameters {unknown} are valid Twilio parameters but are not simulated",
        )
    return params


def _one(params: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    return values[-1] if values else default


def _flag(params: dict[str, list[str]], name: str, default: bool) -> bool:
    value = _one(params, name)
    if value is None:
        return default
    if value.lower() not in {"true", "false"}:
        raise ApiError(400, INVALID_PARAMETER, f"{name} must be true or false")
    return value.lower() == "true"


def _number(
    params: dict[str, list[str]],
    name: str,
    default: int,
    bounds: tuple[int, int],
    code: int = INVALID_PARAMETER,
) -> int:
    value = _one(params, name)
    if value is None:
        return default
    low, high = bounds
    if not value.isdigit() or not low <= int(value) <= high:
        raise ApiError(400, code, f"{name} must be an integer from {low} to {high}")
    return int(value)


def _events(
    params: dict[str, list[str]],
    name: str,
    known: frozenset[str],
    default: frozenset[str],
    code: int = INVALID_CALLBACK_EVENT,
) -> frozenset[str]:
    values = params.get(name)
    if not values:
        return default
    events = frozenset(word for value in values for word in value.replace(",", " ").split())
    if not events <= known:
        raise ApiError(400, code, f"{name}: unknown {sorted(events - known)}")
    return events


def _twiml_source(params: dict[str, list[str]]) -> tuple[str | None, str | None]:
    """The call's Url and Twiml. Url must be an absolute http(s) URL (21205); with both
    given, Twilio's API definition says the Twiml is ignored."""
    url, twiml_text = _one(params, "Url"), _one(params, "Twiml")
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise ApiError(400, URL_REQUIRED, f"Url is not a valid URL: {url}")
    return url, None if url else twiml_text


def _method(params: dict[str, list[str]], name: str) -> str:
    value = (_one(params, name) or "POST").upper()
    if value not in {"GET", "POST"}:
        raise ApiError(400, INVALID_PARAMETER, f"{name} must be GET or POST")
    return value


def _addresses(params: dict[str, list[str]]) -> tuple[str, str]:
    to, from_ = _one(params, "To", ""), _one(params, "From") or _one(params, "CallerId", "")
    if not to or not _valid_address(to):
        raise ApiError(400, INVALID_TO, f"The 'To' number {to} is not a valid phone number.")
    if not from_ or not _valid_address(from_):
        raise ApiError(
            400,
            INVALID_FROM,
            f"The 'From' number {from_} is not a valid phone number, shortcode, "
            "or alphanumeric sender ID.",
        )
    return to, from_


def _machine_detection(params: dict[str, list[str]]) -> str | None:
    value = _one(params, "MachineDetection")
    if value is not None and value not in {"Enable", "DetectMessageEnd"}:
        raise ApiError(
            400, INVALID_PARAMETER, "MachineDetection must be Enable or DetectMessageEnd"
        )
    return value


class _Views:
    """The request handlers; each takes the engine lock for its whole duration."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self.engine = engine

    # Calls --------------------------------------------------------------------------

    def create_call(self, account_sid: str) -> tuple[Response, int]:
        params = _params(CALL_CREATE)
        to, from_ = _addresses(params)
        url, twiml_text = _twiml_source(params)
        if not url and not twiml_text:
            raise ApiError(400, URL_REQUIRED, "Url or Twiml is required")
        engine = self.engine()
        with engine.lock:
            call = engine.legs.new_call(
                to=to,
                from_=from_,
                direction="outbound-api",
                role="api",
                timeout=_number(params, "Timeout", 60, (1, 600), INVALID_TIMEOUT),
            )
            call.url, call.method, call.twiml = url, _method(params, "Method"), twiml_text
            call.fallback_url = _one(params, "FallbackUrl")
            call.fallback_method = _method(params, "FallbackMethod")
            self._callbacks(call, params)
            call.machine_detection = _machine_detection(params)
            engine.log(call, "rest", f"POST Calls.json To={to} From={from_}", at=engine.now())
            engine.soon(lambda: engine.legs.place(call), "place call")
            return jsonify(call_json(engine, call)), 201

    def _callbacks(self, call: Call, params: dict[str, list[str]]) -> None:
        call.status_callback = _one(params, "StatusCallback")
        call.status_callback_method = _method(params, "StatusCallbackMethod")
        call.status_callback_events = _events(
            params, "StatusCallbackEvent", CALL_EVENTS, frozenset({"completed"})
        )

    def fetch_call(self, account_sid: str, sid: str) -> Response:
        engine = self.engine()
        with engine.lock:
            return jsonify(call_json(engine, self._call(engine, sid)))

    def update_call(self, account_sid: str, sid: str) -> Response:
        params = _params(CALL_UPDATE)
        engine = self.engine()
        with engine.lock:
            call = self._call(engine, sid)
            engine.log(call, "rest", f"POST Calls/{sid}.json {sorted(params)}")
            status = _one(params, "Status")
            if status is not None:
                self._change_status(engine, call, status)
            url, twiml_text = _twiml_source(params)
            if url or twiml_text:
                self._new_twiml(engine, call, params, url, twiml_text)
            if "FallbackUrl" in params:
                call.fallback_url = _one(params, "FallbackUrl")
            if "StatusCallback" in params:
                self._callbacks(call, params)
            return jsonify(call_json(engine, call))

    def delete_call(self, account_sid: str, sid: str) -> tuple[str, int]:
        """Delete an ended call's record; the API no longer shows it."""
        engine = self.engine()
        with engine.lock:
            call = self._call(engine, sid)
            if not call.ended:
                raise ApiError(400, NOT_IN_PROGRESS, "Cannot delete a call that has not ended")
            engine.log(call, "rest", f"DELETE Calls/{sid}.json")
            engine.deleted.add(sid)
            return "", 204

    def _change_status(self, engine: Engine, call: Call, status: str) -> None:
        if status not in {"completed", "canceled"}:
            raise ApiError(400, INVALID_PARAMETER, "Status must be completed or canceled")
        if call.ended:
            return
        if call.answered_at is None:
            engine.legs.end(call, "canceled", "application", f"REST Status={status}")
        elif status == "completed":
            engine.legs.end(call, "completed", "application", "REST Status=completed")
        # Status=canceled on an answered call has no effect, as on Twilio.

    def _new_twiml(
        self,
        engine: Engine,
        call: Call,
        params: dict[str, list[str]],
        url: str | None,
        twiml_text: str | None,
    ) -> None:
        if call.ended:
            raise ApiError(400, NOT_IN_PROGRESS, "Call is not in-progress. Cannot redirect.")
        method = _method(params, "Method")
        if call.answered_at is None:
            call.url, call.method, call.twiml = url, method, twiml_text
            return
        engine.programs.redirect(call, Target(url, method, twiml=twiml_text))

    def _call(self, engine: Engine, sid: str) -> Call:
        call = engine.calls.get(sid)
        if call is None or sid in engine.deleted:
            raise ApiError(404, NOT_FOUND, f"The requested resource {request.path} was not found")
        return call

    # Conferences ----------------------------------------------------------------------

    def list_conferences(self, account_sid: str) -> Response:
        params = _params(CONFERENCE_LIST)
        name, status = _one(params, "FriendlyName"), _one(params, "Status")
        size = _number(params, "PageSize", 50, (1, 1000))
        engine = self.engine()
        with engine.lock:
            found = [
                c
                for c in reversed(list(engine.conferences.values()))
                if name in (None, c.friendly_name) and status in (None, c.status)
            ][:size]
            return _page("conferences", [conference_json(engine, c) for c in found], size)

    def fetch_conference(self, account_sid: str, sid: str) -> Response:
        engine = self.engine()
        with engine.lock:
            return jsonify(conference_json(engine, self._conference(engine, sid)))

    def update_conference(self, account_sid: str, sid: str) -> Response:
        params = _params(frozenset({"Status"}))
        engine = self.engine()
        with engine.lock:
            conference = self._conference(engine, sid)
            if _one(params, "Status") != "completed":
                raise ApiError(400, INVALID_PARAMETER, "Status must be completed")
            engine.log(None, "rest", f"POST Conferences/{sid}.json Status=completed")
            engine.rooms.end_conference(conference, "conference-ended-via-api", None)
            return jsonify(conference_json(engine, conference))

    def _conference(self, engine: Engine, sid: str) -> Conference:
        conference = engine.conferences.get(sid)
        if conference is None:
            raise ApiError(404, NOT_FOUND, f"The requested resource {request.path} was not found")
        return conference

    # Participants ---------------------------------------------------------------------

    def add_participant(self, account_sid: str, sid: str) -> tuple[Response, int]:
        params = _params(PARTICIPANT_CREATE)
        to, from_ = _addresses(params)
        engine = self.engine()
        with engine.lock:
            if sid.startswith("CF"):
                conference = self._conference(engine, sid)
            else:
                conference = engine.rooms.conference_named(
                    sid, lambda c: self._conference_callbacks(c, params)
                )
            call = engine.legs.new_call(
                to=to,
                from_=from_,
                direction="outbound-api",
                role="participant",
                timeout=_number(params, "Timeout", 60, (5, 600), INVALID_TIMEOUT),
            )
            self._callbacks(call, params)
            call.machine_detection = _machine_detection(params)
            participant = Participant(
                call.sid,
                conference.sid,
                label=_one(params, "Label"),
                start_conference_on_enter=_flag(params, "StartConferenceOnEnter", True),
                end_conference_on_exit=_flag(params, "EndConferenceOnExit", False),
                muted=_flag(params, "Muted", False),
                beep=_one(params, "Beep", "true") or "true",
                wait_url=_one(params, "WaitUrl"),
                via_api=True,
                date_created=engine.now(),
                date_updated=engine.now(),
            )
            _flag(params, "EarlyMedia", True)  # validated; early media is not heard anyway
            engine.pending[call.sid] = participant
            engine.log(call, "rest", f"POST Participants.json to {conference.friendly_name}")
            engine.soon(lambda: engine.legs.place(call), "place participant")
            return jsonify(participant_json(engine, participant)), 201

    def _conference_callbacks(self, conference: Conference, params: dict[str, list[str]]) -> None:
        conference.status_callback = _one(params, "ConferenceStatusCallback")
        conference.status_callback_method = _method(params, "ConferenceStatusCallbackMethod")
        conference.status_callback_events = _events(
            params,
            "ConferenceStatusCallbackEvent",
            CONFERENCE_EVENTS,
            frozenset({"start", "end"}),  # Twilio's default
            INVALID_PARAMETER,
        )

    def list_participants(self, account_sid: str, sid: str) -> Response:
        engine = self.engine()
        with engine.lock:
            conference = self._conference(engine, sid)
            members = list(conference.participants.values()) + [
                p for p in engine.pending.values() if p.conference_sid == sid
            ]
            return _page("participants", [participant_json(engine, p) for p in members], 50)

    def participant(self, account_sid: str, sid: str, who: str) -> Response | tuple[str, int]:
        params = _params(PARTICIPANT_UPDATE if request.method == "POST" else frozenset())
        engine = self.engine()
        with engine.lock:
            conference = self._conference(engine, sid)
            found = self._participant(engine, conference, who)
            if request.method == "DELETE":
                self._remove(engine, conference, found)
                return "", 204
            if request.method == "POST":
                self._update(engine, conference, found, params)
            return jsonify(participant_json(engine, found))

    def _participant(self, engine: Engine, conference: Conference, who: str) -> Participant:
        members = list(conference.participants.values()) + [
            p for p in engine.pending.values() if p.conference_sid == conference.sid
        ]
        for participant in members:
            if who in (participant.call_sid, participant.label):
                return participant
        raise ApiError(404, NOT_FOUND, f"The requested resource {request.path} was not found")

    def _remove(self, engine: Engine, conference: Conference, participant: Participant) -> None:
        call = engine.calls[participant.call_sid]
        engine.log(call, "rest", f"DELETE participant from {conference.friendly_name}")
        if participant.call_sid in engine.pending:
            engine.legs.end(call, "canceled", "application", "removed from the conference via REST")
        elif participant.via_api:
            engine.rooms.leave(conference, call, "participant_updated_via_api")
            engine.legs.end(
                call, "completed", "application", "removed from the conference via REST"
            )
        else:
            engine.rooms.leave(conference, call, "participant_updated_via_api")
            engine.programs.signal(call, conference.sid, "removed")

    def _update(
        self,
        engine: Engine,
        conference: Conference,
        participant: Participant,
        params: dict[str, list[str]],
    ) -> None:
        engine.log(engine.calls[participant.call_sid], "rest", f"POST participant {sorted(params)}")
        if "Hold" in params:
            engine.rooms.set_hold(
                conference, participant, _flag(params, "Hold", False), _one(params, "HoldUrl")
            )
        if "Muted" in params:
            engine.rooms.set_muted(conference, participant, _flag(params, "Muted", False))
        if "EndConferenceOnExit" in params:
            participant.end_conference_on_exit = _flag(params, "EndConferenceOnExit", False)
        if "WaitUrl" in params:
            participant.wait_url = _one(params, "WaitUrl")
        announce_url = _one(params, "AnnounceUrl")
        if announce_url:
            engine.media.announce(engine.calls[participant.call_sid], announce_url)
        if "BeepOnExit" in params:
            _flag(params, "BeepOnExit", True)


# JSON views -----------------------------------------------------------------------------


def _page(key: str, items: list[dict[str, Any]], size: int) -> Response:
    """A list resource in Twilio's single-page envelope (the simulator never pages)."""
    uri = request.full_path.rstrip("?")
    return jsonify(
        {
            key: items,
            "end": max(len(items) - 1, 0),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }
    )


def call_json(engine: Engine, call: Call) -> dict[str, Any]:
    """A Call resource as Twilio renders it."""
    uri = f"/2010-04-01/Accounts/{call.account_sid}/Calls/{call.sid}"
    updated = max(t for t in (call.created_at, call.answered_at, call.ended_at) if t is not None)
    # Twilio leaves both empty for a call that was never answered (canceled, busy, ...).
    duration = end_time = None
    if call.ended and call.answered_at is not None:
        duration = str(round((call.ended_at or 0) - call.answered_at))
        end_time = engine.date(call.ended_at)
    return {
        "account_sid": call.account_sid,
        "answered_by": call.answered_by,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": engine.date(call.created_at),
        "date_updated": engine.date(updated),
        "direction": call.direction,
        "duration": duration,
        "end_time": end_time,
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": call.parent_sid,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": engine.date(call.started_at),  # set once dialed
        "status": call.status,
        "subresource_uris": {
            name: f"{uri}/{path}.json"
            for name, path in (
                ("notifications", "Notifications"),
                ("recordings", "Recordings"),
                ("payments", "Payments"),
                ("events", "Events"),
                ("siprec", "Siprec"),
                ("streams", "Streams"),
                ("user_defined_messages", "UserDefinedMessages"),
                ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
            )
        },
        "to": call.to,
        "to_formatted": call.to,
        "trunk_sid": None,
        "uri": f"{uri}.json",
    }


def conference_json(engine: Engine, conference: Conference) -> dict[str, Any]:
    """A Conference resource as Twilio renders it."""
    uri = f"/2010-04-01/Accounts/{conference.account_sid}/Conferences/{conference.sid}"
    return {
        "account_sid": conference.account_sid,
        "api_version": "2010-04-01",
        "call_sid_ending_conference": conference.call_sid_ending,
        "date_created": engine.date(conference.created_at),
        "date_updated": engine.date(conference.updated_at),
        "friendly_name": conference.friendly_name,
        "reason_conference_ended": conference.reason_ended,
        "region": "us1",
        "sid": conference.sid,
        "status": conference.status,
        "subresource_uris": {
            "participants": f"{uri}/Participants.json",
            "recordings": f"{uri}/Recordings.json",
        },
        "uri": f"{uri}.json",
    }


def participant_json(engine: Engine, participant: Participant) -> dict[str, Any]:
    """A Participant resource as Twilio renders it."""
    call = engine.calls[participant.call_sid]
    status = participant.status
    if status == "queued" and call.status == "ringing":
        status = "ringing"
    uri = (
        f"/2010-04-01/Accounts/{call.account_sid}/Conferences/{participant.conference_sid}"
        f"/Participants/{call.sid}.json"
    )
    return {
        "account_sid": call.account_sid,
        "call_sid": call.sid,
        "call_sid_to_coach": None,
        "coaching": False,
        "conference_sid": participant.conference_sid,
        "date_created": engine.date(participant.date_created),
        "date_updated": engine.date(participant.date_updated),
        "end_conference_on_exit": participant.end_conference_on_exit,
        "hold": participant.hold,
        "label": participant.label,
        "muted": participant.muted,
        "queue_time": "0",
        "start_conference_on_enter": participant.start_conference_on_enter,
        "status": status,
        "uri": uri,
    }
