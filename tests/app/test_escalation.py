"""Escalation bounce-back, played end to end: a counselor brings 911 back into the call.

The counselor (kc-kansas) accepts at about 12 s. Then, by the * menu or the center's API,
the gateway rings Sample Wyandotte County 911's escalation line and its alternate into the
same room. Every test checks the invariant (`assert_caller_never_dropped`).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from carrier_sim.timeline import Timeline
from carrier_sim.webhooks import signature
from gateway.adapters.twiml import spoken_number
from gateway.domain.events import EventKind
from gateway.domain.transfer import (
    MENU_AWAY_S,
    Escalation,
    EscalationAttempt,
    Join,
    JoinKind,
    Notice,
    Transfer,
)
from gateway.services.centers import _back_from_the_menu
from gateway.services.escalation import GIVE_UP_S, MAX_ROUNDS, _give_up, _notice
from tests.app.harness import (
    AUTH_TOKEN,
    KC_KANSAS,
    KC_KANSAS_CENTER_KEY,
    KS_STATEWIDE_CENTER_KEY,
    PSAP_ALTERNATE,
    PSAP_ESCALATION,
    PUBLIC_URL,
    WYANDOTTE_KEY,
    Harness,
    NetworkFault,
    assert_caller_never_dropped,
    line,
    said,
    shows_a_phone_number,
)

# The counselor accepts (1 at 3 s after answering), presses * at 20 s and 9 at 22 s.
STAR_NINE = [
    {"at": 3, "press": "1"},
    {"at": 20, "press": "*"},
    {"at": 22, "press": "9"},
    {"at": 100, "hangup": True},
]
ACCEPTS_AND_STAYS = [{"at": 3, "press": "1"}, {"at": 100, "hangup": True}]
JOINS = [{"at": 4, "press": "1"}, {"at": 60, "hangup": True}]
ESCALATION_KINDS = {
    EventKind.ESCALATION_REQUESTED,
    EventKind.ESCALATION_DIALED,
    EventKind.ESCALATION_ANSWERED,
    EventKind.ESCALATION_FAILED,
}


def counselor(actions: list[dict[str, Any]]) -> dict[str, Any]:
    return line(KC_KANSAS, "kc-kansas", answer=5, actions=actions)


def escalation_steps(harness: Harness, transfer_id: str) -> list[tuple[str, Any, Any]]:
    """(kind, number_index, status) of the transfer's escalation events, in order."""
    return [
        (e.kind.value, e.data.get("number_index"), e.data.get("status"))
        for e in harness.sink.events
        if e.transfer_id == transfer_id and e.kind in ESCALATION_KINDS
    ]


def dialed(timeline: Timeline, number: str) -> int:
    """How many REST requests placed a call to `number`."""
    return sum(
        1 for e in timeline.of_kind("rest") if e.text.startswith(f"POST Calls.json To={number}")
    )


def all_three_together(timeline: Timeline, psap: str) -> bool:
    """The caller, the counselor and the 911 line could all hear each other at one moment."""
    return any(
        i.end is None or i.end > j.start
        for i in timeline.connections("caller")
        if "kc-kansas" in (i.a, i.b)
        for j in timeline.connections(psap)
        if "caller" in (j.a, j.b) and j.start >= i.start
    ) and timeline.connected("kc-kansas", psap)


def as_center(harness: Harness, method: str, path: str, key: str) -> Any:
    """A center system's request to the API, with its key."""
    return harness.client().open(
        path, method=method, headers={"Authorization": f"Bearer {key}"}, base_url=PUBLIC_URL
    )


def escalate(harness: Harness, transfer_id: str, key: str = KC_KANSAS_CENTER_KEY) -> Any:
    return as_center(harness, "POST", f"/api/v1/transfers/{transfer_id}/escalate", key)


def test_the_counselor_key_brings_911_back_through_the_alternate_when_the_escalation_line_is_busy(
    harness: Harness,
) -> None:
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    timeline = harness.play(
        [
            counselor(STAR_NINE),
            line(PSAP_ESCALATION, "psap-escalation", outcome="busy"),
            line(PSAP_ALTERNATE, "psap-alternate", answer=3, actions=JOINS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert all_three_together(timeline, "psap-alternate")
    # The counselor left the room for the menu only briefly, then came back to the caller.
    assert harness.transfer(transfer_id).accepted() is not None
    (menu_gap,) = [g for g in timeline.gaps_without_human("caller") if 15 < g[0] < 100]
    assert menu_gap[1] - menu_gap[0] < 8
    assert said(timeline, "psap-alternate")[0] == (
        'says "Escalation from 9 8 8: Sample KC Kansas Crisis Line. Caller in Wyandotte '
        "County, KS. Location: latitude 39.1141, longitude -94.6275, within 50 meters. "
        'Callback number 8 1 6, 5 5 5, 0 1 2 3. Press 1 to join."'
    )
    assert escalation_steps(harness, transfer_id) == [
        ("escalation_requested", None, "requested"),
        ("escalation_dialed", 0, "ringing"),
        ("escalation_dialed", 0, "busy"),
        ("escalation_dialed", 1, "ringing"),
        ("escalation_answered", 1, "joined"),
    ]
    requested = next(e for e in harness.sink.events if e.kind == EventKind.ESCALATION_REQUESTED)
    assert dict(requested.data) == {
        "psap_id": "wyandotte-911",
        "center_id": "kc-kansas",
        "by": "key",
        "status": "requested",
    }
    # Neither the number dialed nor the callback number travels in any event.
    assert not any(shows_a_phone_number(e.to_json()) for e in harness.sink.events)


def test_the_escalate_api_rings_911_into_the_room_as_soon_as_it_has_answered(
    harness: Harness,
) -> None:
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    answers: list[tuple[int, Any]] = []

    def call_api() -> None:
        response = escalate(harness, transfer_id)
        answers.append((response.status_code, response.get_json()))
        # The first 911 line was rung once the answer was sent, with no queue between.
        answers.append((dialed_now(harness), None))

    harness.at(30, call_api)
    timeline = harness.play(
        [
            counselor(ACCEPTS_AND_STAYS),
            line(PSAP_ESCALATION, "psap-escalation", answer=3, actions=JOINS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert answers[0][0] == 202 and answers[0][1]["escalation"] == "started"
    assert answers[1][0] == 1
    assert all_three_together(timeline, "psap-escalation")
    status = harness.client().get(
        f"/api/v1/transfers/{transfer_id}",
        headers={"Authorization": f"Bearer {WYANDOTTE_KEY}"},
        base_url="https://gateway.test",
    )
    assert status.get_json()["escalation"] == {
        "status": "joined",
        "by": "api",
        "requested_at": status.get_json()["escalation"]["requested_at"],
        "attempts": [{"number_index": 0, "status": "joined", "result": None}],
    }


def escalation_status(harness: Harness, transfer_id: str, key: str) -> Any:
    return as_center(harness, "GET", f"/api/v1/transfers/{transfer_id}/escalation", key)


def test_the_accepting_center_can_follow_the_escalation_and_no_other_center_can(
    harness: Harness,
) -> None:
    transfer_id = harness.register()["transfer_id"]
    seen: list[tuple[int, Any]] = []

    def before_and_after() -> None:
        seen.append(tuple_of(escalation_status(harness, transfer_id, KC_KANSAS_CENTER_KEY)))
        escalate(harness, transfer_id)
        seen.append(tuple_of(escalation_status(harness, transfer_id, KC_KANSAS_CENTER_KEY)))

    harness.at(30, before_and_after)
    harness.play(
        [
            counselor(ACCEPTS_AND_STAYS),
            line(PSAP_ESCALATION, "psap-escalation", answer=3, actions=JOINS),
        ]
    )

    assert seen[0] == (200, {"transfer_id": transfer_id, "escalation": None})
    ringing = seen[1][1]["escalation"]
    assert (seen[1][0], ringing["status"], ringing["by"]) == (200, "dialing", "api")
    assert ringing["attempts"] == [{"number_index": 0, "status": "dialing", "result": None}]
    done = escalation_status(harness, transfer_id, KC_KANSAS_CENTER_KEY).get_json()
    assert done["escalation"]["status"] == "joined"
    # Nothing about the caller.
    assert "callback" not in str(done) and not shows_a_phone_number(str(done))
    other = escalation_status(harness, transfer_id, KS_STATEWIDE_CENTER_KEY)
    assert other.status_code == 403 and other.get_json()["error"] == "forbidden"
    assert escalation_status(harness, transfer_id, "not-a-key").status_code == 401
    assert (
        escalation_status(harness, "tr_0000000000000000", KC_KANSAS_CENTER_KEY).status_code == 404
    )


def tuple_of(response: Any) -> tuple[int, Any]:
    return response.status_code, response.get_json()


def dialed_now(harness: Harness) -> int:
    """Legs the simulator has placed to the PSAP's escalation line so far."""
    return sum(1 for call in harness.sim.engine.calls.values() if call.to == PSAP_ESCALATION)


def test_an_escalation_with_another_center_key_or_no_key_is_refused_and_dials_nothing(
    harness: Harness,
) -> None:
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    answers: list[int] = []

    def call_api() -> None:
        answers.append(escalate(harness, transfer_id, KS_STATEWIDE_CENTER_KEY).status_code)
        answers.append(escalate(harness, transfer_id, "not-a-key-0123456789").status_code)
        answers.append(escalate(harness, transfer_id, WYANDOTTE_KEY).status_code)

    harness.at(30, call_api)
    timeline = harness.play(
        [
            counselor(ACCEPTS_AND_STAYS),
            line(PSAP_ESCALATION, "psap-escalation", answer=3, actions=JOINS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert answers == [403, 401, 401]
    assert dialed(timeline, PSAP_ESCALATION) == 0
    assert escalation_steps(harness, transfer_id) == []
    assert harness.transfer(transfer_id).escalation is None


def test_an_escalation_for_an_unknown_transfer_is_not_found(harness: Harness) -> None:
    assert escalate(harness, "tr_00000000000000ff").status_code == 404
    assert escalate(harness, "not-a-transfer-id").status_code == 404
    assert harness.sink.events == []


def test_a_voicemail_on_the_escalation_line_is_not_an_answer(harness: Harness) -> None:
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    timeline = harness.play(
        [
            counselor(STAR_NINE),
            line(PSAP_ESCALATION, "psap-escalation", outcome="voicemail", after=2),
            line(PSAP_ALTERNATE, "psap-alternate", answer=3, actions=JOINS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert not timeline.connected("caller", "psap-escalation")
    assert said(timeline, "psap-escalation") == []  # a machine hears no whisper
    assert all_three_together(timeline, "psap-alternate")
    attempts = harness.transfer(transfer_id).escalation.attempts  # type: ignore[union-attr]
    assert [(a.number_index, a.status, a.result) for a in attempts] == [
        (0, "failed", "machine"),
        (1, "joined", ""),
    ]


def announced(timeline: Timeline, party: str = "kc-kansas") -> list[tuple[float, str]]:
    return [(e.t, e.text) for e in timeline.of_kind("media", party) if "announce" in e.text]


# The counselor asks for 911 as in STAR_NINE, then stays with the caller for 10 minutes.
STAR_NINE_AND_STAYS = [*STAR_NINE[:3], {"at": 600, "hangup": True}]


def test_911_is_called_round_after_round_and_the_counselor_told_after_two(
    harness: Harness,
) -> None:
    """Both of 911's lines are busy twice round; on the third round the escalation line
    answers. Meanwhile the counselor, with the caller, hears that 911 has not answered yet
    and the gateway keeps calling."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    busy_twice = {"attempts": ["busy", "busy", {"answer": 3, "actions": JOINS}]}
    timeline = harness.play(
        [
            counselor(STAR_NINE_AND_STAYS),
            line(PSAP_ESCALATION, "psap-escalation", **busy_twice),
            line(PSAP_ALTERNATE, "psap-alternate", outcome="busy"),
        ],
        caller_actions=[{"at": 300, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    ended = [s for s in escalation_steps(harness, transfer_id) if s[2] != "ringing"]
    assert ended == [
        ("escalation_requested", None, "requested"),
        *[("escalation_dialed", 0, "busy"), ("escalation_dialed", 1, "busy")] * 2,
        ("escalation_answered", 0, "joined"),
    ]
    ((told_at, told),) = announced(timeline)
    assert "9 1 1 has not answered yet. The gateway keeps calling." in told
    (joined,) = [
        e.t for e in timeline.of_kind("conference", "psap-escalation") if "joins" in e.text
    ]
    assert told_at < joined
    assert all_three_together(timeline, "psap-escalation")


def test_when_911_never_answers_the_gateway_stops_after_five_rounds_and_says_so(
    harness: Harness,
) -> None:
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    timeline = harness.play(
        [
            counselor(STAR_NINE_AND_STAYS),
            line(PSAP_ESCALATION, "psap-escalation", outcome="busy"),
            line(PSAP_ALTERNATE, "psap-alternate", outcome="failed"),
        ],
        caller_actions=[{"at": 620, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    steps = escalation_steps(harness, transfer_id)
    assert steps[-1][0] == "escalation_failed"
    assert [s for s in steps if s[0] == "escalation_dialed" and s[2] != "ringing"] == [
        ("escalation_dialed", 0, "busy"),
        ("escalation_dialed", 1, "failed"),
    ] * MAX_ROUNDS
    (still, _), (unreached, text) = announced(timeline)
    assert still < unreached and "9 1 1 could not be reached on any of its lines" in text
    # The counselor stays with the caller to the end.
    last = timeline.connections("caller")[-1]
    assert "kc-kansas" in (last.a, last.b)
    assert last.end is None or last.end >= 600


def test_the_gateway_stops_calling_911_five_minutes_after_the_request() -> None:
    escalation = Escalation(seq=1, by="key", requested_at=1000.0)
    escalation.attempts = [EscalationAttempt(i % 2, status="failed", result="no-answer")
                           for i in range(4)]  # fmt: skip

    assert not _give_up(escalation, 1000.0 + GIVE_UP_S - 1, index=4, count=2)
    assert _give_up(escalation, 1000.0 + GIVE_UP_S, index=4, count=2)
    assert _give_up(escalation, 1001.0, index=2 * MAX_ROUNDS, count=2)
    assert _give_up(escalation, 1001.0, index=0, count=0)  # no number at all


def test_a_counselor_whose_return_from_the_menu_was_not_heard_of_is_told_in_the_room() -> None:
    """Their join event back in the room was lost: past MENU_AWAY_S, a notice is announced
    instead of waiting for a join that will not come."""
    transfer = Transfer("tr_0", "api", "wyandotte-911", "connected", 0.0, ["kc-kansas"])
    transfer.counselor_away_since = 100.0
    escalation = Escalation(seq=1, by="key", requested_at=100.0)

    assert _notice(transfer, escalation, Notice.STILL_CALLING, 105.0) is None
    assert escalation.notice == Notice.STILL_CALLING  # kept for their return
    escalation.notice = ""
    later = 100.0 + MENU_AWAY_S
    assert _notice(transfer, escalation, Notice.STILL_CALLING, later) == Notice.STILL_CALLING
    assert escalation.notice == ""


def test_a_notice_kept_while_the_counselor_was_in_the_menu_is_dropped_once_stale(
    harness: Harness,
) -> None:
    """Due after two rounds, "911 has not answered yet" waits while the counselor is in the
    menu again; 911 joins meanwhile, so it is not said when they come back."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    counselor_keys = [*STAR_NINE[:3], {"at": 101, "press": "*"}, {"at": 300, "hangup": True}]
    answers_third_time = [
        "no-answer",
        "no-answer",
        {"answer": 1, "actions": [{"at": 4, "press": "1"}, {"at": 200, "hangup": True}]},
    ]
    timeline = harness.play(
        [
            counselor(counselor_keys),
            line(PSAP_ESCALATION, "psap-escalation", attempts=answers_third_time),
            line(PSAP_ALTERNATE, "psap-alternate", outcome="no-answer"),
        ],
        caller_actions=[{"at": 250, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    assert harness.transfer(transfer_id).escalation.status == "joined"  # type: ignore[union-attr]
    (joined,) = [c.start for c in timeline.connections("caller") if "psap-escalation" in (c.a, c.b)]
    told = [e.t for e in timeline.of_kind("media", "kc-kansas") if "has not answered yet" in e.text]
    assert not [t for t in told if t > joined], (joined, told)


def test_a_watchdog_job_that_fails_is_retried_by_rq_and_then_moves_the_escalation_on(
    router: Any, gateway_redis: redis.Redis, redis_url: str
) -> None:
    """The escalation line's busy callback is lost; when the watchdog job runs, Twilio does
    not answer its look at that leg, so the job fails. RQ keeps it for a retry 2 s later
    (WATCHDOG_RETRY), which finds the leg over and rings the alternate."""
    harness = Harness(router, gateway_redis, watchdog_delay_s=0)
    try:
        registered = harness.register()
        transfer_id = registered["transfer_id"]
        harness.lost_paths.add("/voice/escalation/status")
        seen: list[tuple[list[int | None], int, list[object]]] = []

        def worker_runs() -> None:
            connection = redis.Redis.from_url(redis_url)
            worker = SimpleWorker([harness.queue], connection=connection, serializer=JSONSerializer)
            with harness.app.app_context():
                worker.work(burst=True, with_scheduler=True)
            finished = harness.queue.finished_job_registry.get_job_ids()
            jobs = [harness.queue.fetch_job(job_id) for job_id in finished]
            waiting = [
                harness.queue.fetch_job(job_id)
                for job_id in harness.queue.scheduled_job_registry.get_job_ids()
            ]
            seen.append(
                (
                    [job.retries_left for job in waiting if job is not None],
                    len(harness.queue.failed_job_registry),
                    [job.return_value() for job in jobs if job is not None],
                )
            )
            connection.close()

        def twilio_unreachable_then_worker_runs() -> None:
            escalation = harness.transfer(transfer_id).escalation
            assert escalation is not None
            leg = escalation.attempts[0].call_sid
            harness.network_faults.append(
                NetworkFault(f"Calls/{leg}.json", "refused", method="GET")
            )
            worker_runs()

        def retry_is_due() -> None:
            time.sleep(2.2)  # RQ's own clock: the first retry interval is 2 s
            worker_runs()

        harness.at(60, twilio_unreachable_then_worker_runs)
        harness.at(61, retry_is_due)
        timeline = harness.play(
            [
                counselor(STAR_NINE),
                line(PSAP_ESCALATION, "psap-escalation", outcome="busy"),
                line(PSAP_ALTERNATE, "psap-alternate", answer=3, actions=JOINS),
            ]
        )

        assert_caller_never_dropped(timeline)
        assert not harness.network_faults, "Twilio must really have been out of reach once"
        (failed_once, retried) = seen[:2]
        # Kept for a retry (2 of WATCHDOG_RETRY's 3 left), not failed.
        assert 2 in failed_once[0] and failed_once[1] == 0
        assert "rolled-over" in retried[2]
        (alternate,) = timeline.party_legs("psap-alternate")
        assert alternate.created_at >= 61  # rung by the retried job
        assert all_three_together(timeline, "psap-alternate")
    finally:
        harness.close()


def test_a_whole_round_twilio_cannot_place_ends_the_escalation_at_once_and_says_so(
    harness: Harness,
) -> None:
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    harness.network_faults.extend(
        [
            NetworkFault("Calls.json", "refused", to=PSAP_ESCALATION),
            NetworkFault("Calls.json", "refused", to=PSAP_ALTERNATE),
        ]
    )
    timeline = harness.play(
        [
            counselor(STAR_NINE),
            line(PSAP_ESCALATION, "psap-escalation", answer=3, actions=JOINS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert not harness.network_faults
    attempts = harness.transfer(transfer_id).escalation.attempts  # type: ignore[union-attr]
    assert [(a.number_index, a.result) for a in attempts] == [(0, "refused"), (1, "refused")]
    ((_, text),) = announced(timeline)
    assert "9 1 1 could not be reached on any of its lines" in text


def test_with_no_worker_running_the_first_escalation_dial_still_goes_out(
    harness: Harness,
) -> None:
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    timeline = harness.play(
        [
            counselor(STAR_NINE),
            line(PSAP_ESCALATION, "psap-escalation", answer=3, actions=JOINS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert dialed(timeline, PSAP_ESCALATION) == 1
    (leg,) = timeline.party_legs("psap-escalation")
    assert leg.answered_at is not None
    assert all_three_together(timeline, "psap-escalation")
    # The watchdogs (the deadline's, the escalation's) wait for a worker, holding nothing
    # but the transfer id.
    assert harness.scheduled_watchdogs() == [[transfer_id], [transfer_id]]


@pytest.mark.parametrize("kind", ["refused", "lost"])
def test_with_no_worker_an_escalation_dial_twilio_never_answered_moves_to_the_alternate(
    harness: Harness, kind: str
) -> None:
    """The first request to ring 911 gets no answer from Twilio (never reached it, or its
    answer was lost after it placed the call): the alternate is rung at once, no worker."""
    registered = harness.register()
    harness.network_faults.append(NetworkFault("Calls.json", kind, to=PSAP_ESCALATION))
    timeline = harness.play(
        [
            counselor(STAR_NINE),
            line(PSAP_ESCALATION, "psap-escalation", answer=3, actions=JOINS),
            line(PSAP_ALTERNATE, "psap-alternate", answer=3, actions=JOINS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert dialed(timeline, PSAP_ESCALATION) == (1 if kind == "lost" else 0)
    (alternate,) = timeline.party_legs("psap-alternate")
    assert alternate.created_at < 28  # the counselor pressed 9 at 5 + 22 s
    assert all_three_together(timeline, "psap-alternate")
    assert not timeline.connected("caller", "psap-escalation")
    assert escalation_steps(harness, registered["transfer_id"])[-1] == (
        "escalation_answered",
        1,
        "joined",
    )


def test_with_no_worker_asking_again_moves_on_from_a_leg_whose_callback_was_lost(
    harness: Harness,
) -> None:
    """The escalation line is busy, but its status callback is lost and no worker runs the
    watchdog. The counselor, hearing nothing, presses * 9 again: besides "already being
    called", the gateway looks at that leg, finds it over and rings the alternate."""
    harness.register()
    harness.lost_paths.add("/voice/escalation/status")
    twice = [*STAR_NINE[:3], {"at": 40, "press": "*"}, {"at": 42, "press": "9"}]
    timeline = harness.play(
        [
            counselor([*twice, {"at": 150, "hangup": True}]),
            line(PSAP_ESCALATION, "psap-escalation", outcome="busy"),
            line(PSAP_ALTERNATE, "psap-alternate", answer=3, actions=JOINS),
        ],
        caller_actions=[{"at": 160, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    assert any("9 1 1 is already being called." in text for text in said(timeline, "kc-kansas"))
    (alternate,) = timeline.party_legs("psap-alternate")
    assert 47 <= alternate.created_at < 50  # rung right after the second * 9 (5 + 42 s)
    assert all_three_together(timeline, "psap-alternate")
    assert harness.scheduled_watchdogs()  # waiting for a worker that never came


def test_the_watchdog_job_dials_the_next_number_when_a_status_callback_was_lost(
    router: Any, gateway_redis: redis.Redis, redis_url: str
) -> None:
    harness = Harness(router, gateway_redis, watchdog_delay_s=0)
    try:
        registered = harness.register()
        transfer_id = registered["transfer_id"]
        harness.lost_paths.add("/voice/escalation/status")
        results: list[object] = []

        def worker_runs() -> None:
            connection = redis.Redis.from_url(redis_url)
            worker = SimpleWorker([harness.queue], connection=connection, serializer=JSONSerializer)
            with harness.app.app_context():
                worker.work(burst=True, with_scheduler=True)
            registry = harness.queue.finished_job_registry
            jobs = [harness.queue.fetch_job(job_id) for job_id in registry.get_job_ids()]
            results.extend(job.return_value() for job in jobs if job is not None)
            connection.close()

        harness.at(60, worker_runs)
        timeline = harness.play(
            [
                counselor(STAR_NINE),
                line(PSAP_ESCALATION, "psap-escalation", outcome="busy"),
                line(PSAP_ALTERNATE, "psap-alternate", answer=3, actions=JOINS),
            ]
        )

        assert_caller_never_dropped(timeline)
        (busy,) = timeline.party_legs("psap-escalation")
        assert busy.status == "busy" and busy.ended_at is not None and busy.ended_at < 40
        (alternate,) = timeline.party_legs("psap-alternate")
        assert alternate.created_at >= 60  # rung by the watchdog, not by a callback
        assert all_three_together(timeline, "psap-alternate")
        assert results == ["rolled-over"]
        assert escalation_steps(harness, transfer_id)[1:4] == [
            ("escalation_dialed", 0, "ringing"),
            ("escalation_dialed", 0, "busy"),
            ("escalation_dialed", 1, "ringing"),
        ]
    finally:
        harness.close()


def test_duplicate_escalation_requests_do_not_dial_twice(harness: Harness) -> None:
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    answers: list[Any] = []

    def call_api_twice() -> None:
        answers.append(escalate(harness, transfer_id).get_json()["escalation"])
        answers.append(escalate(harness, transfer_id).get_json()["escalation"])

    harness.at(30, call_api_twice)
    timeline = harness.play(
        [
            # The counselor also presses * 9 while 911 is being rung.
            counselor(
                [
                    {"at": 3, "press": "1"},
                    {"at": 26, "press": "*"},
                    {"at": 28, "press": "9"},
                    {"at": 100, "hangup": True},
                ]
            ),
            line(PSAP_ESCALATION, "psap-escalation", answer=10, actions=JOINS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert answers == ["started", "in-progress"]
    assert dialed(timeline, PSAP_ESCALATION) == 1
    assert dialed(timeline, PSAP_ALTERNATE) == 0
    assert said(timeline, "kc-kansas")[-1] == ('says "9 1 1 is already being called."')
    kinds = [e.kind for e in harness.sink.events if e.kind == EventKind.ESCALATION_REQUESTED]
    assert len(kinds) == 1


def test_a_callback_number_is_spoken_in_groups_of_digits() -> None:
    assert spoken_number("+18165550123") == "8 1 6, 5 5 5, 0 1 2 3"
    assert spoken_number("") == ""


def test_a_caller_who_hangs_up_during_an_escalation_cancels_the_ringing_911_line(
    harness: Harness,
) -> None:
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    timeline = harness.play(
        [counselor(STAR_NINE), line(PSAP_ESCALATION, "psap-escalation", outcome="no-answer")],
        caller_actions=[{"at": 32, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    (ringing,) = timeline.party_legs("psap-escalation")
    assert ringing.status == "canceled" and ringing.ended_at is not None
    assert ringing.ended_at < 35
    assert dialed(timeline, PSAP_ALTERNATE) == 0
    escalation = harness.transfer(transfer_id).escalation
    assert escalation is not None and escalation.status == "canceled"


def test_while_the_counselor_is_in_the_menu_the_caller_is_told_to_stay_on_the_line(
    harness: Harness,
) -> None:
    harness.register()
    timeline = harness.play(
        [
            counselor(
                [
                    *ACCEPTS_AND_STAYS[:1],
                    {"at": 20, "press": "*"},
                    {"at": 22, "press": "0"},
                    {"at": 100, "hangup": True},
                ]
            )
        ]
    )

    assert_caller_never_dropped(timeline)
    told = [e for e in timeline.of_kind("media", "caller") if "still with you" in e.text]
    assert told, "the caller heard why the counselor stepped away"
    assert told[0].t == pytest.approx(timeline_star_time(timeline), abs=1.0)
    (before, after) = [i for i in timeline.connections("caller") if "kc-kansas" in (i.a, i.b)]
    assert after.start > before.end  # the counselor came back to the same caller
    response = harness.client().post(
        "/voice/announce/stay", base_url="https://gateway.test", data={"CallSid": "CA0"}
    )
    assert response.status_code == 403  # like every webhook, it must be signed


def timeline_star_time(timeline: Timeline) -> float:
    (star,) = [e for e in timeline.of_kind("dtmf", "kc-kansas") if "*" in e.text]
    return star.t


def test_when_the_caller_hangs_up_on_the_counselor_the_counselor_hears_the_call_ended(
    harness: Harness,
) -> None:
    harness.register()
    timeline = harness.play(
        [counselor(ACCEPTS_AND_STAYS)], caller_actions=[{"at": 40, "hangup": True}]
    )

    assert_caller_never_dropped(timeline)
    (leg,) = timeline.party_legs("kc-kansas")
    assert leg.ended_at is not None and 40 <= leg.ended_at < 45
    heard = [e.text for e in timeline.of_kind("media", "kc-kansas")]
    assert any("The call has ended" in text for text in heard), heard
    assert not any("Press 9" in text for text in heard)


def test_a_counselor_whose_caller_left_before_the_gateway_heard_of_it_is_not_left_in_the_menu(
    harness: Harness,
) -> None:
    """The counselor's <Dial> ends with the room; here its action webhook comes before the
    conference event that says the caller left (seed 1 delays that event), so the gateway
    answers with the menu, then asks Twilio about the caller and ends the counselor's leg."""
    harness.register()
    timeline = harness.play(
        [counselor(ACCEPTS_AND_STAYS)],
        caller_actions=[{"at": 40, "hangup": True}],
        callbacks={"reorder": True, "seed": 1},
    )

    assert_caller_never_dropped(timeline)
    (done,) = [e for e in timeline.of_kind("webhook") if "/voice/counselor-done" in e.text]
    left = [e for e in timeline.of_kind("callback", "caller") if "participant-leave" in e.text]
    assert left and left[0].t > done.t, "this order is the point of the test"
    (leg,) = timeline.party_legs("kc-kansas")
    assert leg.ended_at is not None and 40 <= leg.ended_at < 45
    heard = [e.text for e in timeline.of_kind("media", "kc-kansas") if e.t >= 40]
    assert heard[-1] == 'says "The call has ended. Thank you."', heard
    assert all(i.start < 40 for i in timeline.connections("kc-kansas"))


@pytest.mark.parametrize("key", ["0", "9"])
def test_a_caller_who_hangs_up_while_the_counselor_is_in_the_menu_ends_the_counselor_leg_too(
    harness: Harness, key: str
) -> None:
    harness.register()
    timeline = harness.play(
        [
            counselor(
                [
                    *ACCEPTS_AND_STAYS[:1],
                    {"at": 20, "press": "*"},
                    {"at": 24, "press": key},
                    {"at": 100, "hangup": True},
                ]
            )
        ],
        caller_actions=[{"at": 27, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    star = timeline_star_time(timeline)
    (pressed,) = [e for e in timeline.of_kind("dtmf", "kc-kansas") if key in e.text]
    assert star < 27 < pressed.t  # the caller left while the counselor was in the menu
    assert all(i.start < star for i in timeline.connections("kc-kansas"))
    heard = [e.text for e in timeline.of_kind("media", "kc-kansas") if e.t > star]
    assert heard[-1] == 'says "The call has ended. Thank you."', heard
    (leg,) = timeline.party_legs("kc-kansas")
    assert leg.ended_at is not None and leg.ended_at < star + 15
    assert dialed(timeline, PSAP_ESCALATION) == 0  # nobody left to bring 911 back to
    rejoined = [e for e in timeline.of_kind("conference", "kc-kansas") if e.t > star]
    assert not [e for e in rejoined if "joins" in e.text], "no new, empty room"


def test_a_counselor_back_from_the_menu_in_a_room_the_caller_already_left_is_not_left_there(
    harness: Harness,
) -> None:
    """The word that the caller hung up is lost (their <Dial>'s action and the conference
    event), so the counselor's 0 sends them back to the room's name, which starts a new,
    empty conference. Its join event shows another ConferenceSid than the caller's room:
    the gateway asks Twilio about the caller and ends the counselor's leg."""
    harness.register()
    lost = {"/voice/caller-done", "/voice/conference", "/voice/status"}
    harness.at(28.5, lambda: harness.lost_paths.update(lost))
    harness.at(30.0, lambda: harness.lost_paths.difference_update(lost))
    timeline = harness.play(
        [
            counselor(
                [
                    *ACCEPTS_AND_STAYS[:1],
                    {"at": 20, "press": "*"},
                    {"at": 24, "press": "0"},
                    {"at": 100, "hangup": True},
                ]
            )
        ],
        caller_actions=[{"at": 28.6, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    star = timeline_star_time(timeline)
    rejoined = [e for e in timeline.of_kind("conference", "kc-kansas") if e.t > star]
    assert [e for e in rejoined if "joins" in e.text], "the lost events must lead to a new room"
    heard = [e.text for e in timeline.of_kind("media", "kc-kansas") if e.t > star]
    assert heard[-1] == 'says "The call has ended. Thank you."', heard
    # Alone in the new room, the counselor hears why they wait, never Twilio's hold music.
    assert any("The caller is joining" in text for text in heard), heard
    assert not any("holdmusic" in text for text in heard), heard
    (leg,) = timeline.party_legs("kc-kansas")
    assert leg.ended_at is not None and leg.ended_at < 40


def test_a_counselor_joining_another_room_while_the_caller_is_still_on_the_line_stays(
    harness: Harness,
) -> None:
    """A join event with another ConferenceSid, while Twilio says the caller's leg is up
    (a room change the gateway has not heard of yet): the counselor is not sent away."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]

    def odd_join() -> None:
        accepted = harness.transfer(transfer_id).accepted()
        assert accepted is not None
        url = f"{PUBLIC_URL}/voice/conference?t={transfer_id}"
        form = {
            "StatusCallbackEvent": "participant-join",
            "CallSid": accepted.call_sid,
            "ConferenceSid": "CF" + "0" * 32,
            "FriendlyName": f"transfer-{transfer_id}",
        }
        response = harness.client().post(
            url, data=form, headers={"X-Twilio-Signature": signature(AUTH_TOKEN, url, form)}
        )
        assert response.status_code == 200

    harness.at(30.0, odd_join)
    timeline = harness.play([counselor(ACCEPTS_AND_STAYS)])

    assert_caller_never_dropped(timeline)
    (leg,) = timeline.party_legs("kc-kansas")
    assert leg.ended_at is not None and leg.ended_at > 100  # hung up by the counselor
    assert not [e for e in timeline.of_kind("webhook") if "/voice/call-ended" in e.text]


def test_a_911_line_joining_after_the_caller_left_unnoticed_is_not_left_in_an_empty_room(
    harness: Harness,
) -> None:
    """The caller hangs up just before 911 presses 1, and word of it is lost; 911's
    <Dial><Conference> then starts a new, empty room. Its join event shows another
    ConferenceSid, Twilio says the caller's leg has ended, and 911 hears the call ended."""
    harness.register()
    lost = {"/voice/caller-done", "/voice/conference", "/voice/status"}
    harness.at(32.0, lambda: harness.lost_paths.update(lost))
    harness.at(34.0, lambda: harness.lost_paths.difference_update(lost))
    timeline = harness.play(
        [counselor(STAR_NINE), line(PSAP_ESCALATION, "psap-escalation", answer=2, actions=JOINS)],
        caller_actions=[{"at": 32.5, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    (pressed,) = [e.t for e in timeline.of_kind("dtmf", "psap-escalation") if "1" in e.text]
    assert 32.5 < pressed < 34.0  # the order this test is about
    assert [e for e in timeline.of_kind("conference", "psap-escalation") if "joins" in e.text]
    heard = [e.text for e in timeline.of_kind("media", "psap-escalation")]
    assert heard[-1] == 'says "The call has ended. Thank you."', heard
    (leg,) = timeline.party_legs("psap-escalation")
    assert leg.ended_at is not None and leg.ended_at < 45
    (counselor_leg,) = timeline.party_legs("kc-kansas")
    assert counselor_leg.ended_at is not None and counselor_leg.ended_at < 45


@pytest.mark.parametrize(
    ("header", "spoken"),
    [("+18165550123", "Callback number 8 1 6, 5 5 5, 0 1 2 3."), ("555-0123", "not given")],
)
def test_a_keyed_transfer_reads_back_the_callback_number_the_psap_equipment_sent(
    harness: Harness, header: str, spoken: str
) -> None:
    """No transfer registered: the call-taker keys a ZIP. The PSAP's equipment sent the
    caller's number in the SIP header X-Callback-Number; 911 hears it if it is E.164."""
    timeline = harness.play(
        [counselor(STAR_NINE), line(PSAP_ESCALATION, "psap-escalation", answer=2, actions=JOINS)],
        caller_actions=[{"at": 2, "press": "66101#"}, {"at": 120, "hangup": True}],
        sip_headers={"X-Callback-Number": header},
    )

    assert_caller_never_dropped(timeline)
    assert all_three_together(timeline, "psap-escalation")
    whisper = said(timeline, "psap-escalation")[0]
    assert spoken in whisper, whisper
    routed = [e for e in harness.sink.events if e.kind == EventKind.ROUTED]
    assert routed[0].data["center_id"] == "kc-kansas"
    if header.startswith("+1816"):  # the area code says Missouri: shown, never used
        assert routed[0].data["area_code_differs"] is True
    keys = [key.decode() for key in harness.redis.scan_iter("g988:*")]
    assert not [key for key in keys if header.lstrip("+") in key]


@pytest.mark.parametrize(
    ("keyed", "method"), [("66101*8165550142#", "civic"), ("*18165550142#", "psap_area")]
)
def test_a_callback_number_keyed_after_the_zip_or_before_pound_is_read_back_to_911(
    harness: Harness, keyed: str, method: str
) -> None:
    """No transfer registered and no X-Callback-Number from the equipment: the call-taker
    keys star and the caller's number (10 digits, or 11 with the leading 1)."""
    timeline = harness.play(
        [counselor(STAR_NINE), line(PSAP_ESCALATION, "psap-escalation", answer=2, actions=JOINS)],
        caller_actions=[{"at": 2, "press": keyed}, {"at": 120, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    assert all_three_together(timeline, "psap-escalation")
    whisper = said(timeline, "psap-escalation")[0]
    assert "Callback number 8 1 6, 5 5 5, 0 1 4 2." in whisper, whisper
    (routed,) = [e for e in harness.sink.events if e.kind == EventKind.ROUTED]
    assert (routed.data["method"], routed.data["center_id"]) == (method, "kc-kansas")
    assert routed.data["area_code_differs"] is True  # 816 is Missouri's: shown, never used
    keys = [key.decode() for key in harness.redis.scan_iter("g988:*")]
    assert not [key for key in keys if shows_a_phone_number(key)]


def test_a_keyed_callback_number_wins_over_the_one_the_equipment_sent(harness: Harness) -> None:
    timeline = harness.play(
        [counselor(STAR_NINE), line(PSAP_ESCALATION, "psap-escalation", answer=2, actions=JOINS)],
        caller_actions=[{"at": 2, "press": "66101*9135550142#"}, {"at": 120, "hangup": True}],
        sip_headers={"X-Callback-Number": "+18165550123"},
    )

    whisper = said(timeline, "psap-escalation")[0]
    assert "Callback number 9 1 3, 5 5 5, 0 1 4 2." in whisper, whisper


@pytest.mark.parametrize("number", ["555014", "28165550142", "1234567890", "8165550142*1"])
def test_a_callback_number_that_is_not_a_phone_number_asks_again_and_routes_nothing(
    harness: Harness, number: str
) -> None:
    timeline = harness.play(
        [counselor([{"at": 3, "press": "1"}])],
        caller_actions=[
            {"at": 2, "press": f"66101*{number}#"},
            {"at": 8, "press": "66101#"},
            {"at": 120, "hangup": True},
        ],
    )

    assert_caller_never_dropped(timeline)
    assert said(timeline, "caller")[1].startswith('says "That callback number was not understood.')
    (routed,) = [e for e in harness.sink.events if e.kind == EventKind.ROUTED]
    assert routed.data["center_id"] == "kc-kansas"  # the second entry, without a number
    assert timeline.connected("caller", "kc-kansas")


def test_a_transfer_code_followed_by_star_is_not_taken_as_a_code(harness: Harness) -> None:
    registered = harness.register()
    harness.register()  # two pending transfers: the PSAP line alone cannot tell which
    code = registered["transfer_code"]
    timeline = harness.play(
        [counselor([{"at": 3, "press": "1"}])],
        caller_actions=[
            {"at": 2, "press": f"{code}*8165550142#"},
            {"at": 8, "press": f"{code}#"},
            {"at": 120, "hangup": True},
        ],
    )

    assert_caller_never_dropped(timeline)
    assert said(timeline, "caller")[1].startswith('says "That entry was not understood.')
    assert harness.transfer(registered["transfer_id"]).accepted() is not None


@pytest.mark.parametrize(
    ("location", "spoken"),
    [
        (
            {"civic": {"state": "KS", "county": "Wyandotte", "house_number": "701",
                       "street": "N 7th St", "city": "Kansas City"}},
            "Location: 701 N 7th St, Kansas City, KS.",
        ),
        ({"zip": "66101"}, "Location: ZIP code 6 6 1 0 1."),
    ],
)  # fmt: skip
def test_911_hears_the_street_address_or_zip_the_psap_gave(
    harness: Harness, location: dict[str, Any], spoken: str
) -> None:
    harness.register(location=location)
    timeline = harness.play(
        [counselor(STAR_NINE), line(PSAP_ESCALATION, "psap-escalation", answer=2, actions=JOINS)]
    )

    whisper = said(timeline, "psap-escalation")[0]
    assert spoken in whisper, whisper


def test_the_location_is_sealed_in_the_live_state_and_without_a_key_not_kept(
    router: Any, gateway_redis: redis.Redis
) -> None:
    harness = Harness(router, gateway_redis)
    sealed = harness.transfer(harness.register()["transfer_id"])
    assert sealed.location_sealed and "39.11" not in sealed.to_json()

    keyless = Harness(router, gateway_redis, encryption_key="")
    timeline = keyless.play(
        [counselor(STAR_NINE), line(PSAP_ESCALATION, "psap-escalation", answer=2, actions=JOINS)],
        sip_headers={"X-Transfer-Id": keyless.register()["transfer_id"]},
    )
    whisper = said(timeline, "psap-escalation")[0]
    assert "Caller in Wyandotte County, KS. Callback number" in whisper, whisper


def test_a_notice_kept_by_the_version_before_an_upgrade_is_still_said_after_it() -> None:
    """Before the Notice enum, the kept notice was its document's path."""
    transfer = Transfer("tr_0", "api", "wyandotte-911", "connected", 0.0, ["kc-kansas"])
    transfer.counselor_away_since = 100.0
    transfer.escalation = Escalation(seq=1, by="key", requested_at=100.0)
    transfer.escalation.notice = "/voice/escalation/still-calling"

    assert _back_from_the_menu(transfer) == Join(JoinKind.BACK, Notice.STILL_CALLING)
    assert transfer.escalation.notice == "" and transfer.counselor_away_since is None
