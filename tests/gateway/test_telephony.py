"""The Twilio seam: every failure to reach Twilio is a TwilioException inside the client,
and a TelephonyError, the project's own, out of the telephony port."""

from __future__ import annotations

import socket

import pytest
from twilio.base.exceptions import TwilioException

from gateway.telephony import Leg, Telephony, TelephonyError, build_client


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_twilio_that_cannot_be_reached_is_a_twilio_exception_naming_no_number() -> None:
    client = build_client("AC" + "0" * 32, "token", f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(TwilioException) as raised:
        client.calls.create(to="+19135550102", from_="+19135550150", url="https://g.test/w")

    assert str(raised.value) == "no answer from Twilio: ConnectionError"
    assert "555" not in str(raised.value)


def test_a_twilio_that_does_not_answer_in_time_is_a_twilio_exception() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts the connection, never answers
        port = listener.getsockname()[1]
        client = build_client("AC" + "0" * 32, "token", f"http://127.0.0.1:{port}", timeout=0.2)

        with pytest.raises(TwilioException) as raised:
            client.calls("CA" + "0" * 32).fetch()

    assert str(raised.value) == "no answer from Twilio: ReadTimeout"


def test_the_telephony_port_turns_every_failure_into_a_telephony_error_naming_no_number() -> None:
    client = build_client("AC" + "0" * 32, "token", f"http://127.0.0.1:{closed_port()}")
    port = Telephony(client)
    leg = Leg(
        to="+19135550102",
        caller_id="+19135550150",
        answer_url="https://g.test/voice/whisper",
        status_url="https://g.test/voice/center-status",
        fallback_url="https://g.test/voice/fallback/center",
        timeout_s=20,
    )
    sid = "CA" + "0" * 32
    attempts = [
        lambda: port.ring(leg),
        lambda: port.hang_up(sid, answered=False),
        lambda: port.redirect(sid, "https://g.test/voice/returned"),
        lambda: port.announce("CF" + "0" * 32, sid, "https://g.test/voice/announce"),
        lambda: port.leg_status(sid),
    ]

    for attempt in attempts:
        with pytest.raises(TelephonyError) as raised:
            attempt()
        assert "555" not in str(raised.value)
        assert not isinstance(raised.value, TwilioException)
