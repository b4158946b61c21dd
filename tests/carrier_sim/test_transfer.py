"""Whole warm transfers: an app using the official twilio client, played end to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.rest import Client
from werkzeug.serving import make_server

from carrier_sim.simulator import Simulator
from carrier_sim.timeline import Timeline
from gateway.telephony import build_client
from tests.carrier_sim.apps import (
    AUTH_TOKEN,
    CENTER_A,
    CENTER_B,
    Seen,
    twiml_app,
    warm_transfer_app,
)
from tests.carrier_sim.conftest import play, scenario

ACCEPTS = [{"at": 3, "press": "1"}, {"at": 90, "hangup": True}]
SIP = {"X-PSAP-Id": "KS-0001"}


def _transfer(
    lines: list[dict[str, Any]],
    caller_actions: list[dict[str, Any]] | None = None,
) -> tuple[Timeline, Seen]:
    seen = Seen()
    holder: dict[str, Client] = {}
    sim = Simulator(app=warm_transfer_app(lambda: holder["client"], seen), auth_token=AUTH_TOKEN)
    holder["client"] = sim.twilio_client()
    plan = scenario(
        caller_actions or [{"at": 150, "hangup": True}], lines=lines, caller={"sip_headers": SIP}
    )
    return sim.run(plan), seen


def test_the_happy_path_connects_the_caller_to_the_counselor_who_accepted() -> None:
    timeline, seen = _transfer(
        [{"number": CENTER_A, "name": "center-a", "answer": 5, "actions": ACCEPTS}]
    )

    (talk,) = timeline.connections("caller")
    # Answer at 5 s, 2 s of answering machine detection, key pressed 3 s after answer.
    assert (talk.b, talk.start, talk.end) == ("center-a", 8.0, 95.0)
    assert timeline.longest_without_human("caller", since=0) == pytest.approx(55.0)
    assert not timeline.disconnected_by_application("caller")
    assert seen.bad_signatures == 0
    assert seen.forms("/whisper")[0]["AnsweredBy"] == "human"


def test_an_unanswered_center_rolls_over_to_the_backup_center() -> None:
    timeline, _ = _transfer(
        [
            {"number": CENTER_A, "name": "center-a", "outcome": "no-answer"},
            {"number": CENTER_B, "name": "center-b", "answer": 4, "actions": ACCEPTS},
        ]
    )

    assert timeline.party_legs("center-a")[0].status == "no-answer"
    assert not timeline.connected("caller", "center-a")
    (talk,) = timeline.connections("caller")
    assert (talk.b, talk.start) == ("center-b", 27.0)  # 20 s ring timeout, then 4 + 2 + 1


def test_a_voicemail_is_detected_and_not_treated_as_an_answer() -> None:
    timeline, seen = _transfer(
        [
            {"number": CENTER_A, "name": "center-a", "outcome": "voicemail", "after": 6},
            {"number": CENTER_B, "name": "center-b", "answer": 4, "actions": ACCEPTS},
        ]
    )

    assert seen.forms("/whisper")[0]["AnsweredBy"] == "machine_start"
    assert timeline.party_legs("center-a")[0].ended_by == "application"
    assert timeline.connected("caller", "center-b")
    assert not timeline.connected("caller", "center-a")


def test_when_every_center_fails_the_app_redirects_the_caller_through_the_rest_api() -> None:
    timeline, _ = _transfer(
        [
            {"number": CENTER_A, "outcome": "busy"},
            {"number": CENTER_B, "outcome": "failed"},
        ]
    )

    said = [e.text for e in timeline.of_kind("media", "caller")]
    assert said[-1] == 'says "No crisis center is available. 9 1 1 stays on the line."'
    # This app then runs out of TwiML, so it hangs up on the caller: the helper sees it.
    assert timeline.disconnected_by_application("caller")


def test_a_caller_who_hangs_up_while_the_center_rings_never_reaches_the_center() -> None:
    timeline, _ = _transfer(
        [{"number": CENTER_A, "name": "center-a", "answer": 15, "actions": ACCEPTS}],
        caller_actions=[{"at": 10, "hangup": True}],
    )

    caller = timeline.party_legs("caller")[0]
    assert (caller.ended_at, caller.ended_by) == (10.0, "party")
    assert not timeline.connected("caller", "center-a")
    rooms = [
        e
        for e in timeline.of_kind("conference")
        if e.text.startswith("conference ") and "created" in e.text
    ]
    # The caller's room ended with it; the counselor accepts into a new, empty one.
    assert len(rooms) == 2
    assert timeline.connections("center-a") == []


def test_the_timeline_renders_for_people_and_as_json() -> None:
    timeline, _ = _transfer(
        [{"number": CENTER_A, "name": "center-a", "answer": 5, "actions": ACCEPTS}]
    )

    text = timeline.render()
    assert "caller <-> center-a connected" in text
    assert "with center-a from 8.0 to 95.0 (87.0 s)" in text
    data = timeline.to_dict()
    assert data["parties"]["caller"]["talked_to"][0]["seconds"] == 87.0
    assert {leg["party"] for leg in data["legs"]} == {"caller", "center-a"}


@pytest.fixture
def served_app() -> Iterator[tuple[str, Seen, dict[str, Client]]]:
    seen = Seen()
    holder: dict[str, Client] = {}
    server = make_server("127.0.0.1", 0, twiml_app({}, seen))
    base = f"http://127.0.0.1:{server.port}"
    server.app = warm_transfer_app(lambda: holder["client"], seen, base=base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, seen, holder
    server.shutdown()
    server.server_close()


def test_a_running_app_is_reached_over_http_and_uses_the_rest_api_over_a_socket(
    served_app: tuple[str, Seen, dict[str, Client]],
) -> None:
    base, seen, holder = served_app
    with Simulator(base_url=base, auth_token=AUTH_TOKEN) as sim:
        api = sim.serve_api()
        holder["client"] = build_client(sim.account_sid, AUTH_TOKEN, api)
        timeline = sim.run(
            scenario(
                [{"at": 60, "hangup": True}],
                lines=[{"number": CENTER_A, "name": "center-a", "answer": 5, "actions": ACCEPTS}],
            )
        )

    assert timeline.connected("caller", "center-a")
    assert seen.bad_signatures == 0
    assert seen.forms("/voice")[0]["To"] == "+17855550150"


def test_the_real_clock_plays_a_call_in_wall_clock_time() -> None:
    seen = Seen()
    sim = Simulator(
        app=twiml_app({"/voice": '<Response><Pause length="1"/></Response>'}, seen),
        auth_token=AUTH_TOKEN,
        clock="real",
        idle_grace=0.05,
    )
    started = time.monotonic()
    timeline = sim.run(scenario())
    elapsed = time.monotonic() - started

    leg = timeline.party_legs("caller")[0]
    assert leg.ended_at is not None and 1.0 <= leg.ended_at < 1.5
    assert 1.0 <= elapsed < 2.5


def test_a_long_call_replays_in_well_under_a_second_on_the_virtual_clock() -> None:
    started = time.monotonic()
    timeline, _ = play({"/voice": '<Response><Pause length="300"/></Response>'}, scenario())

    assert timeline.party_legs("caller")[0].ended_at == 300.0
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(("outcome", "answered_by"), [("fax", "fax"), ("silent", "unknown")])
def test_answering_machine_detection_also_reports_a_fax_and_a_silent_line(
    outcome: str, answered_by: str
) -> None:
    _, seen = _transfer([{"number": CENTER_A, "name": "center-a", "outcome": outcome}])

    assert seen.forms("/whisper")[0]["AnsweredBy"] == answered_by
