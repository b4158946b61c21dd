"""The TwiML interpreter against Twilio's documented semantics, one verb at a time."""

from __future__ import annotations

from tests.carrier_sim.apps import CENTER_A
from tests.carrier_sim.conftest import play, scenario

SAY_MENU = "<Say>Press 1 for the menu</Say>"


def test_gather_with_no_input_falls_through_to_the_next_verb() -> None:
    documents = {
        "/voice": '<Response><Gather numDigits="1" action="/chosen" timeout="3">'
        f"{SAY_MENU}</Gather><Say>Nothing chosen</Say></Response>",
        "/chosen": "<Response><Hangup/></Response>",
    }
    timeline, seen = play(documents, scenario())

    assert seen.forms("/chosen") == []
    said = [e.text for e in timeline.of_kind("media", "caller")]
    assert said == ['says "Press 1 for the menu"', 'says "Nothing chosen"']
    leg = timeline.party_legs("caller")[0]
    # 2 s of prompt (5 words at 2.5 words/s), 3 s timeout, 1 s for the second Say.
    assert leg.ended_at == 6.0
    assert leg.ended_by == "application"


def test_gather_posts_the_digits_to_its_action_when_num_digits_is_reached() -> None:
    documents = {
        "/voice": '<Response><Gather numDigits="2" action="/chosen">'
        f"{SAY_MENU}</Gather></Response>",
        "/chosen": "<Response><Say>Thanks</Say></Response>",
    }
    plan = scenario([{"at": 0.5, "press": "4"}, {"at": 4, "press": "2"}])
    _, seen = play(documents, plan)

    (form,) = seen.forms("/chosen")
    assert form["Digits"] == "42"
    assert form["CallStatus"] == "in-progress"


def test_gather_stops_at_finish_on_key_and_defaults_its_action_to_the_document_url() -> None:
    documents = {
        "/voice": '<Response><Gather finishOnKey="#" timeout="5"><Pause length="1"/></Gather>'
        "</Response>",
    }
    plan = scenario([{"at": 2, "press": "12#"}], max_duration=5)
    _, seen = play(documents, plan)

    forms = seen.forms("/voice")
    assert len(forms) == 2
    assert forms[1]["Digits"] == "12"
    assert forms[1]["FinishedOnKey"] == "#"


def test_a_dial_whose_callee_does_not_answer_within_timeout_reports_no_answer_to_action() -> None:
    documents = {
        "/voice": f'<Response><Dial timeout="10" action="/dialed"><Number>{CENTER_A}</Number>'
        "</Dial></Response>",
        "/dialed": "<Response><Say>Nobody answered</Say></Response>",
    }
    lines = [{"number": CENTER_A, "name": "center-a", "answer": 20}]
    timeline, seen = play(documents, scenario(lines=lines))

    (form,) = seen.forms("/dialed")
    assert form["DialCallStatus"] == "no-answer"
    assert form["DialCallDuration"] == "0"
    (center,) = timeline.party_legs("center-a")
    assert center.status == "no-answer"
    assert center.ended_at == 10.0
    assert not timeline.connected("caller", "center-a")


def test_a_dial_that_is_answered_bridges_the_parties_until_one_hangs_up() -> None:
    documents = {
        "/voice": f'<Response><Dial action="/dialed"><Number>{CENTER_A}</Number></Dial></Response>',
        "/dialed": "<Response><Hangup/></Response>",
    }
    lines = [
        {
            "number": CENTER_A,
            "name": "center-a",
            "answer": 4,
            "actions": [{"at": 30, "hangup": True}],
        }
    ]
    timeline, seen = play(documents, scenario(lines=lines))

    (form,) = seen.forms("/dialed")
    assert form["DialCallStatus"] == "completed"
    assert form["DialCallDuration"] == "30"
    (talk,) = timeline.connections("caller")
    assert (talk.start, talk.end) == (4.0, 34.0)
    assert timeline.party_legs("center-a")[0].parent_sid == timeline.party_legs("caller")[0].sid


def test_a_busy_callee_reports_busy_and_the_call_continues_with_the_next_verb() -> None:
    documents = {
        "/voice": f"<Response><Dial><Number>{CENTER_A}</Number></Dial>"
        "<Say>The line is busy</Say></Response>",
    }
    lines = [{"number": CENTER_A, "outcome": "busy"}]
    timeline, _ = play(documents, scenario(lines=lines))

    assert timeline.party_legs(CENTER_A)[0].status == "busy"
    assert 'says "The line is busy"' in [e.text for e in timeline.of_kind("media", "caller")]


def test_hangup_on_star_ends_the_dialed_leg_and_moves_the_caller_to_the_next_verb() -> None:
    documents = {
        "/voice": f'<Response><Dial hangupOnStar="true"><Number>{CENTER_A}</Number></Dial>'
        '<Say>Back in the menu</Say><Pause length="60"/></Response>',
    }
    lines = [{"number": CENTER_A, "name": "center-a", "answer": 2}]
    timeline, _ = play(documents, scenario([{"at": 10, "press": "*"}], lines=lines))

    center = timeline.party_legs("center-a")[0]
    assert center.ended_at == 10.0
    assert center.ended_by == "application"
    caller = timeline.party_legs("caller")[0]
    assert caller.ended_at is not None and caller.ended_at > 10.0
    assert 'says "Back in the menu"' in [e.text for e in timeline.of_kind("media", "caller")]


def test_a_whisper_runs_on_the_callee_before_the_parties_are_connected() -> None:
    documents = {
        "/voice": f'<Response><Dial><Number url="/whisper">{CENTER_A}</Number></Dial></Response>',
        "/whisper": '<Response><Gather numDigits="1" action="/accepted"><Say>Press 1</Say>'
        "</Gather><Hangup/></Response>",
        "/accepted": "<Response/>",
    }
    lines = [
        {
            "number": CENTER_A,
            "name": "center-a",
            "answer": 3,
            "actions": [{"at": 4, "press": "1"}, {"at": 20, "hangup": True}],
        }
    ]
    timeline, seen = play(documents, scenario(lines=lines))

    assert seen.forms("/accepted")[0]["Digits"] == "1"
    (talk,) = timeline.connections("caller")
    assert (talk.start, talk.end) == (7.0, 23.0)


def test_redirect_fetches_the_next_document_relative_to_the_current_one() -> None:
    documents = {
        "/app/voice": "<Response><Redirect>next</Redirect></Response>",
        "/app/next": "<Response><Say>Redirected</Say></Response>",
    }
    plan = scenario(app={"voice_url": "/app/voice"})
    timeline, seen = play(documents, plan)

    assert len(seen.forms("/app/next")) == 1
    assert 'says "Redirected"' in [e.text for e in timeline.of_kind("media", "caller")]


def test_reject_leaves_the_inbound_call_unanswered() -> None:
    timeline, _ = play({"/voice": '<Response><Reject reason="busy"/></Response>'}, scenario())

    leg = timeline.party_legs("caller")[0]
    assert leg.status == "busy"
    assert leg.answered_at is None


def test_malformed_twiml_is_error_12100_and_the_fallback_url_is_requested() -> None:
    documents = {
        "/voice": "<Response><Say>unclosed</Response>",
        "/fallback": "<Response><Say>Fallback speaking</Say></Response>",
    }
    plan = scenario(app={"voice_url": "/voice", "fallback_url": "/fallback"})
    timeline, seen = play(documents, plan)

    assert [e.data["code"] for e in timeline.errors()] == [12100]
    (form,) = seen.forms("/fallback")
    assert form["ErrorCode"] == "12100"
    assert form["ErrorUrl"] == "https://gateway.test/voice"
    assert 'says "Fallback speaking"' in [e.text for e in timeline.of_kind("media", "caller")]


def test_an_unsimulated_attribute_is_error_12200_and_without_fallback_the_call_ends() -> None:
    documents = {
        "/voice": '<Response><Dial record="record-from-answer">+17855550160</Dial></Response>'
    }
    timeline, _ = play(documents, scenario())

    (error,) = timeline.errors()
    assert error.data["code"] == 12200
    assert "not simulated" in error.text
    leg = timeline.party_legs("caller")[0]
    assert (leg.ended_by, leg.end_reason) == ("application", "application error")
    assert timeline.disconnected_by_application("caller")


def test_an_http_error_from_the_app_is_error_11200() -> None:
    timeline, _ = play({}, scenario())

    assert [e.data["code"] for e in timeline.errors()] == [11200]
