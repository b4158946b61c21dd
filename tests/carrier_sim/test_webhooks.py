"""Webhooks as Twilio sends them: signed, with the standard parameters."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from carrier_sim.simulator import Simulator
from carrier_sim.webhooks import signature, split_overrides
from tests.carrier_sim.apps import AUTH_TOKEN, GATEWAY_NUMBER, PSAP, Seen, twiml_app
from tests.carrier_sim.conftest import play, scenario

HELLO = {"/voice": "<Response><Say>Hello</Say></Response>"}


def test_signatures_validate_with_twilios_request_validator() -> None:
    url = "https://gateway.test/voice?room=1"
    form = {"CallSid": "CA" + "2" * 32, "Digits": "1"}

    assert RequestValidator(AUTH_TOKEN).validate(url, form, signature(AUTH_TOKEN, url, form))
    assert not RequestValidator("another-token").validate(
        url, form, signature(AUTH_TOKEN, url, form)
    )


def test_every_webhook_of_a_call_carries_a_valid_signature() -> None:
    plan = scenario(app={"voice_url": "/voice", "status_callback": "/status"})
    _, seen = play(HELLO, plan)

    assert len(seen.requests) == 2
    assert seen.bad_signatures == 0


def test_an_app_checking_signatures_with_another_token_refuses_every_webhook() -> None:
    seen = Seen()
    sim = Simulator(app=twiml_app(HELLO, seen, token="not-the-token"), auth_token=AUTH_TOKEN)
    timeline = sim.run(scenario())

    assert seen.bad_signatures == 1
    assert [e.data["code"] for e in timeline.errors()] == [11200]


def test_the_voice_webhook_carries_the_standard_parameters_and_sip_x_headers() -> None:
    plan = scenario(caller={"sip_headers": {"X-PSAP-Id": "KS-0001", "X-Location": "geo:39.1"}})
    _, seen = play(HELLO, plan)

    (form,) = seen.forms("/voice")
    assert form["CallSid"].startswith("CA")
    assert form["AccountSid"].startswith("AC")
    assert (form["From"], form["To"], form["Direction"]) == (PSAP, GATEWAY_NUMBER, "inbound")
    assert form["CallStatus"] == "ringing"
    assert form["SipHeader_X-PSAP-Id"] == "KS-0001"
    assert form["SipHeader_X-Location"] == "geo:39.1"


def test_a_get_webhook_moves_the_parameters_into_the_signed_query_string() -> None:
    documents = {
        "/voice": '<Response><Redirect method="GET">/next</Redirect></Response>',
        "/next": "<Response><Say>Got</Say></Response>",
    }
    _, seen = play(documents, scenario())

    (form,) = seen.forms("/next")
    assert form["CallStatus"] == "ringing"
    assert seen.bad_signatures == 0


def test_status_callbacks_carry_sequence_numbers_and_the_final_duration() -> None:
    plan = scenario(
        [{"at": 12, "hangup": True}],
        app={
            "voice_url": "/voice",
            "status_callback": "/status",
            "status_callback_events": ["answered", "completed"],
        },
    )
    _, seen = play({"/voice": '<Response><Pause length="60"/></Response>'}, plan)

    answered, completed = seen.forms("/status")
    assert (answered["CallStatus"], answered["SequenceNumber"]) == ("in-progress", "0")
    assert (completed["CallStatus"], completed["SequenceNumber"]) == ("completed", "1")
    assert completed["CallDuration"] == "12"
    assert completed["Timestamp"].endswith("+0000")


def test_status_callbacks_can_be_delivered_twice() -> None:
    plan = scenario(
        app={"voice_url": "/voice", "status_callback": "/status"},
        callbacks={"duplicate": True, "seed": 3},
    )
    timeline, seen = play(HELLO, plan)

    first, second = seen.forms("/status")
    assert first == second
    assert len(timeline.of_kind("callback")) == 2


def test_status_callbacks_can_arrive_out_of_order() -> None:
    plan = scenario(
        app={
            "voice_url": "/voice",
            "status_callback": "/status",
            "status_callback_events": ["ringing", "answered", "completed"],
        },
        callbacks={"reorder": True, "seed": 2},
    )
    _, seen = play(HELLO, plan)

    order = [int(form["SequenceNumber"]) for form in seen.forms("/status")]
    assert sorted(order) == [0, 1, 2]
    assert order == [2, 1, 0]  # seed 2 delays the first callbacks most


def test_url_fragments_override_twilios_timeouts_and_are_not_sent() -> None:
    assert split_overrides("https://gateway.test/voice#ct=1000&rt=4000") == (
        "https://gateway.test/voice",
        (1.0, 4.0),
    )
    assert split_overrides("https://gateway.test/voice") == (
        "https://gateway.test/voice",
        (5.0, 15.0),
    )
