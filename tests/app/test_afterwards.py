"""Work a view schedules for after its response: it runs once the response is sent."""

from __future__ import annotations

import logging
import threading

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from gateway.web.afterwards import AfterResponse
from tests.app.harness import AUTH_TOKEN, GATEWAY_NUMBER, PUBLIC_URL, WYANDOTTE_LINE, Harness

CALLER_SID = "CA" + "0" * 31 + "7"


def app_that_schedules(
    done: list[str], fail_first: bool = False, after: AfterResponse | None = None
) -> Flask:
    app = Flask(__name__)
    after_response = after or AfterResponse()

    @app.post("/hook")
    def hook() -> str:
        def first() -> None:
            if fail_first:
                raise RuntimeError("Twilio refused")
            done.append("first")

        after_response(first)
        after_response(lambda: done.append("second"))
        done.append("answered")
        return "<Response/>"

    return app


def test_scheduled_work_runs_in_order_only_once_the_response_is_closed() -> None:
    done: list[str] = []
    client = app_that_schedules(done).test_client()

    response = client.post("/hook", buffered=False)
    assert response.get_data() == b"<Response/>"
    assert done == ["answered"]  # the response is whole; nothing scheduled has run yet

    response.close()  # what a WSGI server does once the last byte is sent
    assert done == ["answered", "first", "second"]


def test_a_failing_piece_is_logged_and_the_rest_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    done: list[str] = []
    client = app_that_schedules(done, fail_first=True).test_client()

    with caplog.at_level(logging.ERROR, logger="gateway.web.afterwards"):
        response = client.post("/hook", buffered=True)

    assert response.status_code == 200
    assert done == ["answered", "second"]
    assert "after a webhook's response failed" in caplog.text
    assert "Twilio refused" in caplog.text


def test_outside_a_request_work_runs_at_once_and_its_errors_propagate() -> None:
    done: list[str] = []
    after_response = AfterResponse(threads=4)
    after_response(lambda: done.append("now"))
    assert done == ["now"]

    def fails() -> None:
        raise RuntimeError("no Redis")

    with pytest.raises(RuntimeError, match="no Redis"):
        after_response(fails)


def test_on_a_pool_the_work_runs_on_another_thread_in_order_once_the_response_is_closed() -> None:
    done: list[str] = []
    threads: list[str] = []
    finished = threading.Event()
    after = AfterResponse(threads=1)  # one thread: both requests' work in order
    app = app_that_schedules(done, after=after)

    @app.post("/more")
    def more() -> str:
        after(lambda: threads.append(threading.current_thread().name))
        after(finished.set)
        return "<Response/>"

    client = app.test_client()
    client.post("/hook", buffered=True)
    response = client.post("/more", buffered=False)
    assert not finished.is_set()
    response.close()

    assert finished.wait(5)
    assert done == ["answered", "first", "second"]
    assert threads[0].startswith("after-response") and threads[0] != "MainThread"


def test_the_inbound_webhook_answers_the_caller_before_it_rings_the_center(
    harness: Harness,
) -> None:
    transfer_id = harness.register()["transfer_id"]
    form = {
        "CallSid": CALLER_SID,
        "From": WYANDOTTE_LINE,
        "To": GATEWAY_NUMBER,
        "CallStatus": "ringing",
        "SipHeader_X-Transfer-Id": transfer_id,
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC_URL}/voice", form)

    response = harness.client().post(
        "/voice",
        data=form,
        headers={"X-Twilio-Signature": signature},
        base_url=PUBLIC_URL,
        buffered=False,
    )
    twiml = response.get_data(as_text=True)

    assert f"transfer-{transfer_id}" in twiml  # the caller waits in the transfer's room
    assert harness.sim.engine.calls == {}  # and no center is rung while Twilio waits
    assert harness.transfer(transfer_id).attempts[0].center_id == "kc-kansas"  # but chosen

    response.close()
    (leg,) = harness.sim.engine.calls.values()
    assert leg.to == "+19135550102"  # the Kansas City, KS center, rung right after
    assert harness.transfer(transfer_id).attempts[0].call_sid == leg.sid
