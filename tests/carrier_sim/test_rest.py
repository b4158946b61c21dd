"""The REST API, driven by the official twilio client through gateway.telephony."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from twilio.base.exceptions import TwilioRestException

from carrier_sim.simulator import Simulator
from gateway.telephony import build_client
from tests.carrier_sim.apps import AUTH_TOKEN, CENTER_A, GATEWAY_NUMBER, Seen, twiml_app

ROOT = Path(__file__).resolve().parents[2]
APP = "https://gateway.test"
APP_URL = f"{APP}/x"


@pytest.fixture
def sim() -> Simulator:
    return Simulator(app=twiml_app({}, Seen()), auth_token=AUTH_TOKEN)


def test_fetching_an_unknown_call_sid_is_404_with_code_20404(sim: Simulator) -> None:
    with pytest.raises(TwilioRestException) as raised:
        sim.twilio_client().calls("CA" + "0" * 32).fetch()

    assert raised.value.status == 404
    assert raised.value.code == 20404


def test_creating_a_call_to_an_invalid_number_is_400_with_code_21211(sim: Simulator) -> None:
    with pytest.raises(TwilioRestException) as raised:
        sim.twilio_client().calls.create(to="+1555", from_=GATEWAY_NUMBER, url=APP_URL)

    assert raised.value.status == 400
    assert raised.value.code == 21211


def test_a_north_american_number_must_follow_nanp_numbering(sim: Simulator) -> None:
    with pytest.raises(TwilioRestException) as raised:
        sim.twilio_client().calls.create(to="+11855550160", from_=GATEWAY_NUMBER, url=APP_URL)

    assert raised.value.code == 21211


def test_an_invalid_caller_id_is_400_with_code_21212(sim: Simulator) -> None:
    with pytest.raises(TwilioRestException) as raised:
        sim.twilio_client().calls.create(to=CENTER_A, from_="gateway", url=APP_URL)

    assert raised.value.code == 21212


def test_a_created_call_is_queued_and_can_be_fetched(sim: Simulator) -> None:
    client = sim.twilio_client()
    created = client.calls.create(
        to=CENTER_A,
        from_=GATEWAY_NUMBER,
        url=f"{APP}/whisper",
        status_callback_event=["initiated", "completed"],
    )
    fetched = client.calls(created.sid).fetch()

    assert created.sid.startswith("CA") and len(created.sid) == 34
    assert (fetched.status, fetched.direction, fetched.to) == ("queued", "outbound-api", CENTER_A)
    assert fetched.date_created is not None
    assert sim.engine.calls[created.sid].status_callback_events == {"initiated", "completed"}


def test_a_parameter_twilio_accepts_but_the_simulator_does_not_play_is_refused(
    sim: Simulator,
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        sim.twilio_client().calls.create(
            to=CENTER_A, from_=GATEWAY_NUMBER, url=APP_URL, record=True
        )

    assert raised.value.status == 400
    assert "Record" in raised.value.msg


def test_wrong_credentials_are_401_with_code_20003(sim: Simulator) -> None:
    client = build_client(sim.account_sid, "wrong-token", http_client=sim.http_client())
    with pytest.raises(TwilioRestException) as raised:
        client.calls("CA" + "0" * 32).fetch()

    assert (raised.value.status, raised.value.code) == (401, 20003)


def test_redirecting_a_call_that_has_ended_is_400_with_code_21220(sim: Simulator) -> None:
    client = sim.twilio_client()
    call = client.calls.create(to=CENTER_A, from_=GATEWAY_NUMBER, url=APP_URL)
    client.calls(call.sid).update(status="canceled")

    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).update(url="https://gateway.test/other")

    assert raised.value.code == 21220
    assert client.calls(call.sid).fetch().status == "canceled"


def test_conferences_can_be_listed_by_friendly_name_and_status(sim: Simulator) -> None:
    client = sim.twilio_client()
    participant = client.conferences("room-a").participants.create(
        from_=GATEWAY_NUMBER, to=CENTER_A, label="counselor", early_media=True, timeout=30
    )
    client.conferences("room-b").participants.create(from_=GATEWAY_NUMBER, to=CENTER_A)

    (room_a,) = client.conferences.list(friendly_name="room-a", status="init")
    assert room_a.sid == participant.conference_sid
    assert client.conferences.list(friendly_name="room-a", status="in-progress") == []
    assert len(client.conferences.list()) == 2
    fetched = client.conferences(room_a.sid).participants("counselor").fetch()
    assert (fetched.call_sid, fetched.label) == (participant.call_sid, "counselor")


def test_removing_an_unknown_participant_is_404(sim: Simulator) -> None:
    client = sim.twilio_client()
    participant = client.conferences("room-a").participants.create(
        from_=GATEWAY_NUMBER, to=CENTER_A
    )
    with pytest.raises(TwilioRestException) as raised:
        client.conferences(participant.conference_sid).participants("CA" + "1" * 32).delete()

    assert raised.value.code == 20404


def test_the_client_loads_twilio_s_rest_resources_when_built_not_on_the_first_call() -> None:
    # A fresh interpreter: in this one another test may have loaded them already.
    script = (
        "import sys\n"
        "from gateway.telephony import build_client\n"
        "assert 'twilio.rest.api.v2010.account.call' not in sys.modules\n"
        "build_client('AC' + '0' * 32, 'x' * 32)\n"
        "assert 'twilio.rest.api.v2010.account.call' in sys.modules\n"
        "assert 'twilio.rest.api.v2010.account.conference' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, timeout=60)


@pytest.mark.parametrize("url", ["/x", "ftp://gateway.test/x", "gateway.test/x"])
def test_a_relative_or_non_http_url_is_400_with_code_21205(sim: Simulator, url: str) -> None:
    with pytest.raises(TwilioRestException) as raised:
        sim.twilio_client().calls.create(to=CENTER_A, from_=GATEWAY_NUMBER, url=url)

    assert (raised.value.status, raised.value.code) == (400, 21205)


def test_with_both_url_and_twiml_the_twiml_is_ignored(sim: Simulator) -> None:
    created = sim.twilio_client().calls.create(
        to=CENTER_A, from_=GATEWAY_NUMBER, url=APP_URL, twiml="<Response><Hangup/></Response>"
    )

    call = sim.engine.calls[created.sid]
    assert (call.url, call.twiml) == (APP_URL, None)


def test_an_ended_call_can_be_deleted_and_is_then_gone(sim: Simulator) -> None:
    client = sim.twilio_client()
    call = client.calls.create(to=CENTER_A, from_=GATEWAY_NUMBER, url=APP_URL)
    client.calls(call.sid).update(status="canceled")

    assert client.calls(call.sid).delete() is True
    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).fetch()
    assert raised.value.status == 404


def test_a_call_still_up_cannot_be_deleted(sim: Simulator) -> None:
    client = sim.twilio_client()
    call = client.calls.create(to=CENTER_A, from_=GATEWAY_NUMBER, url=APP_URL)

    with pytest.raises(TwilioRestException) as raised:
        client.calls(call.sid).delete()
    assert raised.value.status == 400


def test_a_ringing_call_has_a_start_time_and_a_canceled_one_no_duration_or_end_time(
    sim: Simulator,
) -> None:
    client = sim.twilio_client()
    call = client.calls.create(to=CENTER_A, from_=GATEWAY_NUMBER, url=APP_URL)
    assert client.calls(call.sid).fetch().start_time is None  # queued: not dialed yet
    with sim.engine.lock:
        sim.engine.legs.place(sim.engine.calls[call.sid])

    ringing = client.calls(call.sid).fetch()
    assert (ringing.status, ringing.start_time is not None) == ("ringing", True)
    canceled = client.calls(call.sid).update(status="canceled")
    assert (canceled.status, canceled.duration, canceled.end_time) == ("canceled", None, None)


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"timeout": 0}, 21208),
        ({"timeout": 601}, 21208),
        ({"status_callback_event": ["answered", "hung-up"]}, 21626),
    ],
)
def test_a_bad_timeout_or_status_callback_event_has_twilios_own_error_code(
    sim: Simulator, options: dict[str, object], code: int
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        sim.twilio_client().calls.create(to=CENTER_A, from_=GATEWAY_NUMBER, url=APP_URL, **options)

    assert (raised.value.status, raised.value.code) == (400, code)


def test_conference_status_callbacks_default_to_the_start_and_end_events(sim: Simulator) -> None:
    participant = (
        sim.twilio_client()
        .conferences("room-a")
        .participants.create(
            from_=GATEWAY_NUMBER, to=CENTER_A, conference_status_callback=f"{APP}/events"
        )
    )

    conference = sim.engine.conferences[participant.conference_sid]
    assert conference.status_callback_events == {"start", "end"}
