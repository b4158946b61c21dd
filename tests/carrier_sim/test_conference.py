"""Conferences against Twilio's documented semantics."""

from __future__ import annotations

from twilio.rest import Client

from carrier_sim.simulator import Simulator
from tests.carrier_sim.apps import (
    AUTH_TOKEN,
    CENTER_A,
    GATEWAY_NUMBER,
    SUPERVISOR,
    Seen,
    scripted_app,
)
from tests.carrier_sim.conftest import scenario

ROOM = "room-0101"
EVENTS = "start end join leave hold"


def _caller_twiml(attrs: str, dial_attrs: str = "") -> str:
    return (
        f"<Response><Dial {dial_attrs}><Conference {attrs}>{ROOM}</Conference></Dial>"
        "<Say>The conference is over</Say></Response>"
    )


def _add(client: Client, to: str, label: str, **options: object) -> None:
    client.conferences(ROOM).participants.create(
        from_=GATEWAY_NUMBER,
        to=to,
        label=label,
        conference_status_callback="/events",
        conference_status_callback_event=EVENTS.split(),
        **options,
    )


def _run(
    caller_twiml: str,
    adds: list[tuple[str, str, dict[str, object]]],
    lines: list[dict[str, object]],
    caller_actions: list[dict[str, object]] | None = None,
) -> tuple[object, Seen]:
    seen = Seen()
    holder: dict[str, Client] = {}

    def add_everyone(form: dict[str, str]) -> None:
        for to, label, options in adds:
            _add(holder["client"], to, label, **options)

    app = scripted_app({"/voice": caller_twiml}, seen, {"/voice": add_everyone})
    sim = Simulator(app=app, auth_token=AUTH_TOKEN)
    holder["client"] = sim.twilio_client()
    return sim.run(scenario(caller_actions, lines=lines)), seen


def _events(seen: Seen) -> list[str]:
    return [form["StatusCallbackEvent"] for form in seen.forms("/events")]


def test_a_participant_waits_on_hold_until_someone_with_start_conference_on_enter_joins() -> None:
    timeline, seen = _run(
        _caller_twiml('startConferenceOnEnter="false"'),
        [(CENTER_A, "counselor", {"start_conference_on_enter": True})],
        [
            {
                "number": CENTER_A,
                "name": "center-a",
                "answer": 6,
                "actions": [{"at": 30, "hangup": True}],
            }
        ],
    )

    waiting = [e for e in timeline.of_kind("media", "caller") if "waits" in e.text]
    assert [e.t for e in waiting] == [0.0]
    (talk,) = timeline.connections("caller")
    assert (talk.b, talk.start) == ("center-a", 6.0)
    assert _events(seen)[:3] == ["participant-join", "participant-join", "conference-start"]
    start = seen.forms("/events")[2]
    assert start["FriendlyName"] == ROOM
    assert start["SequenceNumber"] == "2"


def test_nobody_is_connected_while_no_participant_has_started_the_conference() -> None:
    timeline, seen = _run(
        _caller_twiml('startConferenceOnEnter="false"'),
        [(CENTER_A, "counselor", {"start_conference_on_enter": False})],
        [
            {
                "number": CENTER_A,
                "name": "center-a",
                "answer": 6,
                "actions": [{"at": 30, "hangup": True}],
            }
        ],
    )

    assert timeline.connections("caller") == []
    assert "conference-start" not in _events(seen)


def test_a_participant_with_end_conference_on_exit_leaving_ends_the_conference_for_everyone() -> (
    None
):
    timeline, seen = _run(
        _caller_twiml('startConferenceOnEnter="true"'),
        [(CENTER_A, "counselor", {"end_conference_on_exit": True}), (SUPERVISOR, "supervisor", {})],
        [
            {
                "number": CENTER_A,
                "name": "center-a",
                "answer": 5,
                "actions": [{"at": 20, "hangup": True}],
            },
            {"number": SUPERVISOR, "name": "supervisor", "answer": 8},
        ],
    )

    end = seen.forms("/events")[-1]
    assert end["StatusCallbackEvent"] == "conference-end"
    assert end["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left"
    assert end["CallSidEndingConference"] == timeline.party_legs("center-a")[0].sid
    supervisor = timeline.party_legs("supervisor")[0]
    assert (supervisor.ended_at, supervisor.ended_by) == (25.0, "application")
    # The caller joined with TwiML, so its <Dial> ends and the next verb runs.
    said = [e for e in timeline.of_kind("media", "caller") if "over" in e.text]
    assert [e.t for e in said] == [25.0]


def test_hangup_on_star_moves_that_party_to_the_next_verb_and_leaves_the_others_connected() -> None:
    timeline, _ = _run(
        _caller_twiml('startConferenceOnEnter="true"', 'hangupOnStar="true"'),
        [(CENTER_A, "counselor", {}), (SUPERVISOR, "supervisor", {})],
        [
            {
                "number": CENTER_A,
                "name": "center-a",
                "answer": 5,
                "actions": [{"at": 55, "hangup": True}],
            },
            {
                "number": SUPERVISOR,
                "name": "supervisor",
                "answer": 5,
                "actions": [{"at": 60, "hangup": True}],
            },
        ],
        caller_actions=[{"at": 15, "press": "*"}],
    )

    said = [e for e in timeline.of_kind("media", "caller") if "over" in e.text]
    assert [e.t for e in said] == [15.0]
    assert [(i.start, i.end) for i in timeline.connections("caller")] == [(5.0, 15.0)] * 2
    (between_others,) = [i for i in timeline.connections("center-a") if "caller" not in (i.a, i.b)]
    assert (between_others.start, between_others.end) == (5.0, 60.0)


def test_conference_events_use_only_the_settings_of_the_participant_that_created_the_room() -> None:
    seen = Seen()
    holder: dict[str, Client] = {}

    def add_without_callback(form: dict[str, str]) -> None:
        holder["client"].conferences(ROOM).participants.create(from_=GATEWAY_NUMBER, to=CENTER_A)

    caller = (
        f'<Response><Dial><Conference statusCallback="/events" statusCallbackEvent="{EVENTS}">'
        f"{ROOM}</Conference></Dial></Response>"
    )
    app = scripted_app({"/voice": caller}, seen, {"/voice": add_without_callback})
    sim = Simulator(app=app, auth_token=AUTH_TOKEN)
    holder["client"] = sim.twilio_client()
    sim.run(scenario([{"at": 20, "hangup": True}], lines=[{"number": CENTER_A, "answer": 5}]))

    assert seen.forms("/events") == []


def _waiting_lines(timeline: object) -> list[str]:
    entries = timeline.of_kind("media", "caller")  # type: ignore[attr-defined]
    return [e.text for e in entries if "waits" in e.text]


def test_a_waiting_participant_hears_the_applications_wait_url_document() -> None:
    from tests.carrier_sim.conftest import play

    timeline, seen = play(
        {
            "/voice": _caller_twiml('waitUrl="/wait" startConferenceOnEnter="false"'),
            "/wait": '<Response><Say>Please stay on the line.</Say><Pause length="2"/></Response>',
        },
        scenario([{"at": 10, "hangup": True}]),
    )

    assert seen.forms("/wait"), "the simulator fetched the waitUrl"
    line = _waiting_lines(timeline)[0]
    assert '"Please stay on the line."' in line
    assert '<Pause length="2">' in line


def test_a_wait_url_document_without_a_redirect_plays_once_and_then_silence() -> None:
    from tests.carrier_sim.conftest import play

    timeline, seen = play(
        {
            "/voice": _caller_twiml('waitUrl="/wait" startConferenceOnEnter="false"'),
            # 5 words (2 s) and a 2 s pause, then nothing: Twilio does not fetch it again.
            "/wait": '<Response><Say>Please stay on the line.</Say><Pause length="2"/></Response>',
        },
        scenario([{"at": 30, "hangup": True}]),
    )

    assert len(seen.forms("/wait")) == 1
    message, silence = [e for e in timeline.of_kind("media", "caller") if "waits" in e.text]
    assert (message.t, silence.t) == (0.0, 4.0)
    assert "silence (the waitUrl document ended without a Redirect)" in silence.text


def test_a_wait_url_document_ending_in_a_redirect_is_fetched_again_each_time_it_has_played() -> (
    None
):
    from tests.carrier_sim.conftest import play

    _, seen = play(
        {
            "/voice": _caller_twiml('waitUrl="/wait" startConferenceOnEnter="false"'),
            "/wait": "<Response><Say>Please stay on the line.</Say>"
            '<Pause length="2"/><Redirect>/wait</Redirect></Response>',
        },
        scenario([{"at": 10, "hangup": True}]),
    )

    assert len(seen.forms("/wait")) == 3  # at 0, 4 and 8 s, until the hang-up at 10


def test_a_wait_url_redirect_is_followed_and_a_new_message_is_recorded() -> None:
    from tests.carrier_sim.conftest import play

    timeline, seen = play(
        {
            "/voice": _caller_twiml('waitUrl="/wait" startConferenceOnEnter="false"'),
            "/wait": "<Response><Say>Connecting you.</Say><Redirect>/later</Redirect></Response>",
            "/later": '<Response><Say>Still trying.</Say><Pause length="30"/></Response>',
        },
        scenario([{"at": 20, "hangup": True}]),
    )

    assert (len(seen.forms("/wait")), len(seen.forms("/later"))) == (1, 1)
    first, second = _waiting_lines(timeline)
    assert '"Connecting you."' in first and '"Still trying."' in second


def test_the_wait_url_is_not_fetched_again_once_the_room_has_started() -> None:
    seen = Seen()
    holder: dict[str, Client] = {}
    documents = {
        "/voice": _caller_twiml('waitUrl="/wait" startConferenceOnEnter="false"'),
        "/wait": '<Response><Say>Please hold.</Say><Pause length="3"/>'
        "<Redirect>/wait</Redirect></Response>",
    }

    def add_counselor(form: dict[str, str]) -> None:
        _add(holder["client"], CENTER_A, "counselor", start_conference_on_enter=True)

    sim = Simulator(
        app=scripted_app(documents, seen, {"/voice": add_counselor}), auth_token=AUTH_TOKEN
    )
    holder["client"] = sim.twilio_client()
    center = {"number": CENTER_A, "name": "center-a", "answer": 6}
    timeline = sim.run(scenario([{"at": 60, "hangup": True}], lines=[center]))

    # 2 + 3 s a loop: fetched at 0 and 5 s; the room starts at 6 s, and nothing after.
    assert len(seen.forms("/wait")) == 2
    assert timeline.connected("caller", "center-a")


def test_a_wait_url_document_with_a_verb_not_allowed_there_is_an_error() -> None:
    from tests.carrier_sim.conftest import play

    timeline, _ = play(
        {
            "/voice": _caller_twiml('waitUrl="/wait" startConferenceOnEnter="false"'),
            "/wait": "<Response><Dial>+18165550103</Dial></Response>",
        },
        scenario([{"at": 10, "hangup": True}]),
    )

    assert any("waitUrl" in e.text for e in timeline.errors())


def test_a_failing_wait_url_leaves_the_room_unestablished_and_the_dial_action_recovers() -> None:
    from tests.carrier_sim.conftest import play

    caller = _caller_twiml('waitUrl="/wait" startConferenceOnEnter="false"', 'action="/after"')
    timeline, seen = play(
        {"/voice": caller, "/after": "<Response><Say>Recovered</Say></Response>"},
        scenario([{"at": 30, "hangup": True}]),  # no /wait document: the app answers 500
    )

    (after,) = seen.forms("/after")
    assert after["DialCallStatus"] == "failed"
    assert [e.t for e in timeline.of_kind("media", "caller") if "Recovered" in e.text] == [0.0]
    assert not [e for e in timeline.of_kind("conference") if "joins" in e.text]


def test_twilios_own_hold_music_is_only_recorded() -> None:
    from tests.carrier_sim.conftest import play

    timeline, _ = play(
        {"/voice": _caller_twiml('startConferenceOnEnter="false"')},
        scenario([{"at": 10, "hangup": True}]),
    )

    assert "twimlets.com/holdmusic" in _waiting_lines(timeline)[0]
    assert not timeline.errors()  # type: ignore[attr-defined]


def test_a_participant_alone_does_not_start_the_room_even_with_start_conference_on_enter() -> None:
    timeline, _ = _run(
        _caller_twiml('startConferenceOnEnter="true"'),
        [(CENTER_A, "counselor", {"start_conference_on_enter": False})],
        [{"number": CENTER_A, "name": "center-a", "answer": 6}],
        caller_actions=[{"at": 30, "hangup": True}],
    )

    # The caller waits alone, hearing Twilio's hold music, until a second leg joins.
    assert "twimlets.com/holdmusic" in _waiting_lines(timeline)[0]
    (start,) = [e for e in timeline.of_kind("conference") if "conference-start" in e.text]
    assert start.t == 6.0
    (talk,) = timeline.connections("caller")
    assert talk.start == 6.0


def test_a_second_participant_with_the_same_label_is_refused_with_16025_and_goes_on() -> None:
    seen = Seen()
    holder: dict[str, Client] = {}

    def add_labelled(form: dict[str, str]) -> None:
        holder["client"].conferences(ROOM).participants.create(
            from_=GATEWAY_NUMBER, to=CENTER_A, label="caller"
        )

    caller = (
        f'<Response><Dial action="/after"><Conference participantLabel="caller">{ROOM}'
        "</Conference></Dial></Response>"
    )
    documents = {"/voice": caller, "/after": "<Response><Say>Not joined</Say></Response>"}
    sim = Simulator(
        app=scripted_app(documents, seen, {"/voice": add_labelled}), auth_token=AUTH_TOKEN
    )
    holder["client"] = sim.twilio_client()
    timeline = sim.run(scenario(lines=[{"number": CENTER_A, "answer": 5}]))

    assert [e.data.get("code") for e in timeline.errors()] == [16025]
    assert seen.forms("/after")[0]["DialCallStatus"] == "failed"
    assert not timeline.connections("caller")


def test_the_dial_action_after_a_conference_carries_no_dial_call_duration() -> None:
    from tests.carrier_sim.conftest import play

    _, seen = play(
        {
            "/voice": _caller_twiml("", 'action="/after" hangupOnStar="true"'),
            "/after": "<Response/>",
        },
        scenario([{"at": 10, "press": "*"}, {"at": 20, "hangup": True}]),
    )

    (after,) = seen.forms("/after")
    assert after["DialCallStatus"] == "completed"
    assert "DialCallDuration" not in after
