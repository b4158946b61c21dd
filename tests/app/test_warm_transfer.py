"""Whole warm transfers played against the gateway with the carrier simulator and real Redis.

Every test checks the invariant (`assert_caller_never_dropped`): from the moment the caller
reaches the gateway, the gateway never disconnects them.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from gateway.domain.events import EventKind
from gateway.domain.transfer import TransferStatus
from gateway.jobs import watch
from gateway.settings import DEFAULT_TABLES_DIR
from gateway.web.context import EXTENSION
from routing.engine import Router
from tests.app.harness import (
    ACCEPTS,
    DOUGLAS_KEY,
    ELIGIBLE,
    KC_KANSAS,
    KS_STATEWIDE,
    NATIONAL,
    WYANDOTTE_KEY,
    Harness,
    NetworkFault,
    assert_caller_never_dropped,
    line,
    said,
)

NOT_REACHED = (
    'says "We could not reach a 9 8 8 counselor. 9 1 1 stays on the line with the caller. '
    'You may hang up this line when ready."'
)


def test_the_happy_path_connects_the_caller_to_the_center_serving_their_location(
    harness: Harness,
) -> None:
    registered = harness.register()
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        sip_headers={"X-Transfer-Id": registered["transfer_id"]},
    )

    assert_caller_never_dropped(timeline)
    (talk,) = timeline.connections("caller")
    # Rung at once, answered at 5 s, 2 s of machine detection, 1 pressed at 8 s, then a
    # 10-word greeting (4 s) before the counselor joins.
    assert talk.b == "kc-kansas" and talk.start == pytest.approx(12.0, abs=1.0)
    wait_start, wait_end = timeline.gaps_without_human("caller")[0]
    assert wait_end - wait_start < 15  # the caller waited under 15 s for the counselor
    (waiting,) = [e.text for e in timeline.of_kind("media", "caller") if "waits" in e.text]
    assert "We are connecting a 9 8 8 crisis counselor" in waiting  # a message, not silence
    announcements = [e.text for e in timeline.of_kind("media", "caller") if "announce" in e.text]
    assert announcements == [
        'hears the announcement "A 9 8 8 counselor is connected. 9 1 1 may now leave the call."'
    ]
    transfer_id = registered["transfer_id"]
    assert harness.kinds(transfer_id) == [
        EventKind.REQUESTED,
        EventKind.ROUTED,
        EventKind.DIAL_ATTEMPT,
        EventKind.DIAL_RESULT,
        EventKind.WHISPER_ACCEPTED,
        EventKind.HANDOFF,
        EventKind.CALLER_HUNG_UP,
        EventKind.ENDED,
    ]
    assert harness.transfer(transfer_id).status == TransferStatus.ENDED
    status = harness.client().get(
        f"/api/v1/transfers/{transfer_id}", headers={"Authorization": f"Bearer {WYANDOTTE_KEY}"}
    )
    view = status.get_json()
    assert (view["status"], view["outcome"], view["current_center_id"]) == (
        "ended",
        "handed-off",
        "kc-kansas",
    )
    assert view["attempts"] == [{"center_id": "kc-kansas", "status": "accepted", "result": None}]
    steps = [step["kind"] for step in view["timeline"]]
    assert steps[:3] == ["requested", "routed", "caller_arrived"] and len(steps) > 3
    assert view["timeline"][1]["center_id"] == "kc-kansas"
    assert all(step["at"].endswith("+00:00") for step in view["timeline"])


def test_the_whisper_tells_the_counselor_who_where_how_urgent_and_which_language(
    harness: Harness,
) -> None:
    registered = harness.register()
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        sip_headers={"X-Transfer-Id": registered["transfer_id"]},
    )

    assert said(timeline, "kc-kansas")[0] == (
        'says "Transfer from 9 1 1: Sample Wyandotte County 911. Caller in Wyandotte County, KS. '
        "Risk mild. Call type emotional distress. Language English. Press 1 to accept, "
        '2 to decline, 3 to hear the 9 1 1 summary and the callback number."'
    )


def test_on_3_the_counselor_hears_the_summary_and_callback_number_then_may_accept(
    harness: Harness,
) -> None:
    registered = harness.register()
    timeline = harness.play(
        [
            line(
                KC_KANSAS,
                "kc-kansas",
                answer=5,
                actions=[
                    {"at": 3, "press": "3"},
                    {"at": 30, "press": "1"},
                    {"at": 90, "hangup": True},
                ],
            )
        ],
        sip_headers={"X-Transfer-Id": registered["transfer_id"]},
    )

    assert_caller_never_dropped(timeline)
    replay = said(timeline, "kc-kansas")[1]
    assert replay.startswith(
        'says "Summary from 9 1 1: Caller is overwhelmed after losing a job; no plan to harm '
        "self. Callback number 8 1 6, 5 5 5, 0 1 2 3. Transfer from 9 1 1:"
    ), replay
    assert timeline.connected("caller", "kc-kansas")


def test_without_summary_or_number_there_is_nothing_to_hear_on_3(harness: Harness) -> None:
    body = {k: v for k, v in ELIGIBLE.items() if k not in {"summary", "callback_number"}}
    registered = harness.post_json("/api/v1/transfers", body).get_json()
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        sip_headers={"X-Transfer-Id": registered["transfer_id"]},
    )

    assert said(timeline, "kc-kansas")[0].endswith('Press 1 to accept, 2 to decline."')


def test_a_registered_transfer_is_found_by_the_psap_line_without_a_sip_header(
    harness: Harness,
) -> None:
    registered = harness.register()
    timeline = harness.play([line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)])

    assert_caller_never_dropped(timeline)
    assert timeline.connected("caller", "kc-kansas")
    assert harness.transfer(registered["transfer_id"]).outcome == "handed-off"


def test_an_unanswered_center_rolls_over_to_its_backup(harness: Harness) -> None:
    registered = harness.register()
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", outcome="no-answer"),
            line(KS_STATEWIDE, "ks-statewide", answer=4, actions=ACCEPTS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert timeline.party_legs("kc-kansas")[0].status == "no-answer"
    (talk,) = timeline.connections("caller")
    # kc-kansas rings for its 24 s ring timeout; ks-statewide answers 4 s later.
    assert talk.b == "ks-statewide" and talk.start == pytest.approx(35.0, abs=1.0)
    rollovers = [e for e in harness.sink.events if e.kind == EventKind.ROLLOVER]
    assert [dict(e.data) for e in rollovers] == [
        {"from_center_id": "kc-kansas", "to_center_id": "ks-statewide", "reason": "no-answer"}
    ]
    attempts = harness.transfer(registered["transfer_id"]).attempts
    assert [(a.center_id, a.status, a.result) for a in attempts] == [
        ("kc-kansas", "failed", "no-answer"),
        ("ks-statewide", "accepted", ""),
    ]


def test_a_counselor_who_declines_sends_the_caller_to_the_backup(harness: Harness) -> None:
    registered = harness.register()
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", answer=3, actions=[{"at": 3, "press": "2"}]),
            line(KS_STATEWIDE, "ks-statewide", answer=4, actions=ACCEPTS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert not timeline.connected("caller", "kc-kansas")
    assert timeline.connected("caller", "ks-statewide")
    declined = [e for e in harness.sink.events if e.kind == EventKind.WHISPER_DECLINED]
    assert [dict(e.data) for e in declined] == [{"center_id": "kc-kansas", "reason": "key-2"}]
    assert harness.transfer(registered["transfer_id"]).attempts[0].result == "declined"


def test_a_counselor_who_never_presses_a_key_is_a_decline_after_two_prompts(
    harness: Harness,
) -> None:
    harness.register()
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", answer=3, actions=[{"at": 120, "hangup": True}]),
            line(KS_STATEWIDE, "ks-statewide", answer=4, actions=ACCEPTS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert len(said(timeline, "kc-kansas")) == 3  # the whisper twice, then the goodbye
    assert timeline.connected("caller", "ks-statewide")
    declined = [e for e in harness.sink.events if e.kind == EventKind.WHISPER_DECLINED]
    assert declined[0].data["reason"] == "no-key"


def test_a_voicemail_greeting_is_never_taken_for_an_answer(harness: Harness) -> None:
    registered = harness.register()
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", outcome="voicemail", after=6),
            line(KS_STATEWIDE, "ks-statewide", answer=4, actions=ACCEPTS),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert not timeline.connected("caller", "kc-kansas")
    assert said(timeline, "kc-kansas") == []  # nothing is left on the voicemail
    assert timeline.connected("caller", "ks-statewide")
    attempts = harness.transfer(registered["transfer_id"]).attempts
    assert attempts[0].result == "machine"


def test_the_caller_stays_with_911_when_every_center_fails(harness: Harness) -> None:
    registered = harness.register()
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", outcome="busy"),
            line(KS_STATEWIDE, "ks-statewide", outcome="failed"),
            line(NATIONAL, "national", outcome="no-answer"),
        ]
    )

    assert_caller_never_dropped(timeline)
    assert said(timeline, "caller")[-1] == NOT_REACHED
    caller = timeline.party_legs("caller")[0]
    assert (caller.ended_at, caller.ended_by) == (150.0, "party")
    transfer = harness.transfer(registered["transfer_id"])
    assert transfer.outcome == "returned:no-center-answered"
    assert [a.result for a in transfer.attempts] == ["busy", "failed", "no-answer"]
    returned = [e for e in harness.sink.events if e.kind == EventKind.RETURNED_TO_911]
    assert [e.data["reason"] for e in returned] == ["no-center-answered"]


def test_the_overall_deadline_returns_the_caller_to_911_before_the_plan_runs_out(
    router: Router, gateway_redis: redis.Redis
) -> None:
    harness = Harness(router, gateway_redis, deadline_s=30)
    registered = harness.register()
    timeline = harness.play([line(KC_KANSAS, "kc-kansas", outcome="no-answer")])

    assert_caller_never_dropped(timeline)
    assert said(timeline, "caller")[-1] == NOT_REACHED
    assert timeline.party_legs("ks-statewide") == []  # 6 s left: not worth ringing
    transfer = harness.transfer(registered["transfer_id"])
    assert (transfer.status, transfer.outcome) == (TransferStatus.ENDED, "returned:deadline")


def test_a_caller_who_hangs_up_while_the_center_rings_cancels_the_call_to_the_center(
    harness: Harness,
) -> None:
    registered = harness.register()
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=15, actions=ACCEPTS)],
        caller_actions=[{"at": 10, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    center = timeline.party_legs("kc-kansas")[0]
    assert (center.status, center.ended_at, center.ended_by) == ("canceled", 10.0, "application")
    assert timeline.connections("kc-kansas") == []
    transfer = harness.transfer(registered["transfer_id"])
    assert (transfer.status, transfer.attempts[0].result) == (
        TransferStatus.ABANDONED,
        "caller-left",
    )
    assert EventKind.CALLER_HUNG_UP in harness.kinds(registered["transfer_id"])


def test_a_caller_who_hangs_up_during_the_whisper_is_not_offered_to_the_counselor(
    harness: Harness,
) -> None:
    harness.register()
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=3, actions=[{"at": 6, "press": "1"}])],
        caller_actions=[{"at": 7, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    center = timeline.party_legs("kc-kansas")[0]
    assert (center.ended_at, center.ended_by) == (7.0, "application")
    assert timeline.connections("kc-kansas") == []


def test_a_wrong_transfer_code_gets_another_try_and_the_right_one_connects(
    harness: Harness,
) -> None:
    first = harness.register()
    harness.register()  # two pending transfers: the PSAP line alone cannot tell which
    wrong = "000000" if first["transfer_code"] != "000000" else "111111"
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        caller_actions=[
            {"at": 2, "press": f"{wrong}#"},
            {"at": 6, "press": f"{first['transfer_code']}#"},
            {"at": 150, "hangup": True},
        ],
    )

    assert_caller_never_dropped(timeline)
    assert said(timeline, "caller")[1].startswith('says "That code was not found.')
    assert timeline.connected("caller", "kc-kansas")
    assert harness.transfer(first["transfer_id"]).outcome == "handed-off"


def test_a_zip_code_keyed_without_a_registered_transfer_routes_the_caller(
    harness: Harness,
) -> None:
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        caller_actions=[{"at": 2, "press": "66101#"}, {"at": 150, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    assert timeline.connected("caller", "kc-kansas")
    routed = [e for e in harness.sink.events if e.kind == EventKind.ROUTED]
    assert [(e.data["method"], e.data["center_id"]) for e in routed] == [("civic", "kc-kansas")]
    requested = [e for e in harness.sink.events if e.kind == EventKind.REQUESTED]
    assert requested[0].data["origin"] == "zip"


def test_a_keyed_zip_with_no_transfer_agreement_keeps_the_call_with_911_and_says_why(
    harness: Harness,
) -> None:
    # Wyandotte's agreements are with the Kansas City, KS center and the Spanish line; a
    # Lawrence (Douglas County) ZIP is the Kansas statewide line's.
    timeline = harness.play(
        [line(KS_STATEWIDE, "ks-statewide", answer=5, actions=ACCEPTS)],
        caller_actions=[{"at": 2, "press": "66044#"}, {"at": 150, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    assert not timeline.party_legs("ks-statewide")  # nobody was rung
    assert any(
        "There is no transfer agreement with Sample Kansas Statewide Crisis Line. 9 1 1 keeps"
        in text
        for text in said(timeline, "caller")
    )
    declined = [e for e in harness.sink.events if e.kind == EventKind.DECLINED_AT_TRIAGE]
    assert [e.data["reason"] for e in declined] == ["no-partnership"]


def test_pound_alone_routes_by_the_psap_own_area(harness: Harness) -> None:
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        caller_actions=[{"at": 2, "press": "#"}, {"at": 150, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    assert timeline.connected("caller", "kc-kansas")
    routed = [e for e in harness.sink.events if e.kind == EventKind.ROUTED]
    assert routed[0].data["method"] == "psap_area"


def test_a_call_nobody_identifies_waits_at_the_menu_and_is_never_hung_up_on(
    harness: Harness,
) -> None:
    timeline = harness.play([], caller_actions=[{"at": 200, "hangup": True}])

    assert_caller_never_dropped(timeline)
    assert timeline.party_legs("caller")[0].ended_at == 200.0
    assert any("No transfer was found" in text for text in said(timeline, "caller"))


def test_duplicate_and_reordered_status_callbacks_change_nothing(harness: Harness) -> None:
    registered = harness.register()
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", outcome="no-answer"),
            line(KS_STATEWIDE, "ks-statewide", answer=4, actions=ACCEPTS),
        ],
        callbacks={"duplicate": True, "reorder": True, "seed": 7},
    )

    assert_caller_never_dropped(timeline)
    duplicates = [e for e in timeline.of_kind("callback") if "duplicate delivery" in e.text]
    assert duplicates, "the scenario must really deliver duplicates"
    assert timeline.connected("caller", "ks-statewide")
    assert len(timeline.party_legs("ks-statewide")) == 1  # the backup was rung once
    keys = [e.key for e in harness.sink.events]
    assert len(keys) == len(set(keys))
    transfer = harness.transfer(registered["transfer_id"])
    assert [(a.center_id, a.result) for a in transfer.attempts] == [
        ("kc-kansas", "no-answer"),
        ("ks-statewide", ""),
    ]
    assert harness.kinds(registered["transfer_id"]).count(EventKind.ROLLOVER) == 1


def test_a_keyed_zip_transfer_is_never_offered_to_another_call_from_the_same_psap(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under gunicorn a second call from the same PSAP can reach /voice between the moment
    # the keyed transfer is stored and the moment this call claims it (found under load).
    service = harness.app.extensions[EXTENSION].service
    offered: list[list[str]] = []
    claim = service.connect

    def connect_and_look(transfer_id: str, call_sid: str) -> object:
        offered.append(harness.store.pending_for("wyandotte-911", 0))
        return claim(transfer_id, call_sid)

    monkeypatch.setattr(service, "connect", connect_and_look)
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        caller_actions=[{"at": 2, "press": "66101#"}, {"at": 150, "hangup": True}],
    )

    assert timeline.connected("caller", "kc-kansas")
    assert offered == [[]]  # when this call claimed it, no other call could have found it


def test_a_lost_center_callback_still_returns_the_caller_to_911_once_the_deadline_watchdog_runs(
    harness: Harness,
) -> None:
    """Every center leg's status callback is lost: nothing moves the transfer on after the
    first center stops ringing. The watchdog job scheduled at the caller's arrival runs
    (here: called as a worker would, once too early and once after the deadline). The
    waitUrl fetches, which would notice first, are lost too."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    harness.lost_paths.update({"/voice/center-status", "/voice/wait"})
    found: list[str] = []

    def watchdog_job() -> None:
        with harness.app.app_context():
            found.append(watch(transfer_id))

    harness.at(50, watchdog_job)
    harness.at(110, watchdog_job)
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", outcome="no-answer")],
        caller_actions=[{"at": 200, "hangup": True}],
    )

    # The invariant, but for the lost waitUrl fetches, which the simulator reports.
    assert not timeline.disconnected_by_application("caller")
    assert {e.text.split(":")[0] for e in timeline.errors()} == {"waitUrl https"}
    assert [leg.ended_by for leg in timeline.party_legs("caller")] == ["party"]
    assert found == ["in-flight", "rolled-over"]
    told = [e for e in timeline.of_kind("media", "caller") if "could not reach" in e.text]
    assert told and 110 <= told[0].t < 115, "back to 911 when the job ran, not before"
    transfer = harness.transfer(transfer_id)
    assert [(a.center_id, a.result) for a in transfer.attempts] == [("kc-kansas", "no-answer")]
    assert EventKind.RETURNED_TO_911 in harness.kinds(transfer_id)
    # Scheduled at the caller's arrival for after the deadline, and again after "in-flight".
    assert harness.scheduled_watchdogs() == [[transfer_id], [transfer_id]]


def test_with_no_worker_a_lost_center_callback_is_noticed_by_the_wait_message_loop(
    harness: Harness,
) -> None:
    """No worker runs the watchdog job: Twilio fetching the waitUrl every 13 s or so is
    what notices the transfer stuck past its deadline (90 s, plus 15 s of grace)."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    harness.lost_paths.add("/voice/center-status")
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", outcome="no-answer")],
        caller_actions=[{"at": 200, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    told = [e for e in timeline.of_kind("media", "caller") if "could not reach" in e.text]
    assert told and 105 <= told[0].t < 120, told
    transfer = harness.transfer(transfer_id)
    assert [(a.center_id, a.result) for a in transfer.attempts] == [("kc-kansas", "no-answer")]
    assert EventKind.RETURNED_TO_911 in harness.kinds(transfer_id)


def test_a_caller_whose_redirect_back_to_911_failed_hears_why_and_is_redirected_again(
    harness: Harness,
) -> None:
    """Every center fails; the REST request that moves the caller's leg out of the waiting
    room gets no answer. The next fetch of the waitUrl says why and redirects again."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]

    def lose_the_next_caller_update() -> None:
        caller_sid = harness.transfer(transfer_id).caller_sid
        harness.network_faults.append(NetworkFault(f"Calls/{caller_sid}.json", "refused"))

    harness.at(1, lose_the_next_caller_update)
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", outcome="busy"),
            line(KS_STATEWIDE, "ks-statewide", outcome="busy"),
            line(NATIONAL, "national", outcome="busy"),
        ],
        caller_actions=[{"at": 120, "hangup": True}],
    )

    assert_caller_never_dropped(timeline)
    assert not harness.network_faults, "the first redirect must really have failed"
    # The last message in the transfer's room; the held room after it is silent.
    waits = [e for e in timeline.of_kind("media", "caller") if "waits" in e.text]
    assert "We could not reach a 9 8 8 counselor" in waits[-2].text
    assert waits[-1].text.endswith("hearing silence")
    assert said(timeline, "caller")[0] == NOT_REACHED  # then the held room, redirected
    assert EventKind.RETURNED_TO_911 in harness.kinds(transfer_id)


def test_a_header_naming_another_psaps_transfer_claims_neither_it_nor_the_lines_own(
    harness: Harness,
) -> None:
    """Wyandotte has exactly one pending transfer (Kansas City, KS); the call from its line
    carries the id of another (a Lawrence caller registered by Douglas County). That one
    is not Wyandotte's to claim (issue 11), and the header named a transfer, so the line's
    own pending one is not guessed either: the call-taker hears the menu."""
    lawrence = harness.post_json(
        "/api/v1/transfers",
        {**ELIGIBLE, "location": {"lat": 38.9717, "lon": -95.2353, "radius_m": 50}},
        key=DOUGLAS_KEY,
    ).get_json()
    own = harness.register()  # Wyandotte's only pending transfer
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS),
            line(KS_STATEWIDE, "ks-statewide", answer=5, actions=ACCEPTS),
        ],
        sip_headers={"X-Transfer-Id": lawrence["transfer_id"]},
    )

    assert_caller_never_dropped(timeline)
    assert "Enter the 6 digit transfer code" in said(timeline, "caller")[0]
    assert not timeline.party_legs("kc-kansas") and not timeline.party_legs("ks-statewide")
    for transfer_id in (lawrence["transfer_id"], own["transfer_id"]):
        assert harness.transfer(transfer_id).status == TransferStatus.PENDING


def test_a_backup_that_closed_since_routing_is_passed_over_at_rollover(
    gateway_redis: redis.Redis, tmp_path: Path
) -> None:
    """The Kansas statewide line answers on one weekday only. The transfer was routed on
    that day (the service's clock is set back for the registration), so its dial plan
    holds the line; the call comes today, when it is closed: when the Kansas City, KS
    center does not answer, the gateway records the statewide line closed and rings the
    national line instead of a line nobody staffs."""
    chicago = ZoneInfo("America/Chicago")
    today = datetime.now(chicago)
    open_day = today - timedelta(days=4)  # never today's weekday
    day_name = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[open_day.weekday()]
    tables = tmp_path / "tables"
    shutil.copytree(DEFAULT_TABLES_DIR, tables)
    centers = tables / "centers.yaml"
    text = centers.read_text()
    always = 'hours: "24/7"'
    hours = text.index(always, text.index("id: ks-statewide"))
    weekly = f'hours:\n      {day_name}: "00:00-23:59"'
    centers.write_text(text[:hours] + weekly + text[hours + len(always) :])
    harness = Harness(Router.from_files(tables), gateway_redis)
    service = harness.app.extensions[EXTENSION].service
    try:
        service.clock = lambda: open_day.replace(hour=12).astimezone(UTC)
        registered = harness.register()
        service.clock = harness.now
        timeline = harness.play(
            [
                line(KC_KANSAS, "kc-kansas", outcome="no-answer"),
                line(KS_STATEWIDE, "ks-statewide", answer=4, actions=ACCEPTS),
                line(NATIONAL, "national", answer=4, actions=ACCEPTS),
            ],
            sip_headers={"X-Transfer-Id": registered["transfer_id"]},
        )

        assert_caller_never_dropped(timeline)
        assert registered["dial_plan"] == ["kc-kansas", "ks-statewide", "national"]
        assert not timeline.party_legs("ks-statewide")
        assert timeline.connected("caller", "national")
        attempts = harness.transfer(registered["transfer_id"]).attempts
        assert [(a.center_id, a.result) for a in attempts] == [
            ("kc-kansas", "no-answer"),
            ("ks-statewide", "closed"),
            ("national", ""),
        ]
    finally:
        harness.close()


def test_a_center_dial_that_never_reaches_twilio_rolls_over_to_the_backup_at_once(
    harness: Harness,
) -> None:
    registered = harness.register()
    harness.network_faults.append(NetworkFault("Calls.json", "refused", to=KC_KANSAS))
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", answer=3, actions=ACCEPTS),
            line(KS_STATEWIDE, "ks-statewide", answer=4, actions=ACCEPTS),
        ],
    )

    assert_caller_never_dropped(timeline)
    assert not timeline.party_legs("kc-kansas")
    (backup,) = timeline.party_legs("ks-statewide")
    assert backup.created_at < 1.0  # no wait for a deadline or a watchdog
    assert timeline.connected("caller", "ks-statewide")
    transfer = harness.transfer(registered["transfer_id"])
    assert [(a.center_id, a.result) for a in transfer.attempts] == [
        ("kc-kansas", "failed"),
        ("ks-statewide", ""),
    ]


def test_a_center_rung_whose_answer_from_twilio_was_lost_is_never_connected(
    harness: Harness,
) -> None:
    """Twilio placed the call but its answer timed out: the gateway counts the leg failed
    and rings the backup. The leg it does not know about may still answer; that counselor
    is told the caller is no longer waiting, and the caller gets the backup."""
    registered = harness.register()
    harness.network_faults.append(NetworkFault("Calls.json", "lost", to=KC_KANSAS))
    timeline = harness.play(
        [
            line(KC_KANSAS, "kc-kansas", answer=3, actions=ACCEPTS),
            line(KS_STATEWIDE, "ks-statewide", answer=8, actions=ACCEPTS),
        ],
    )

    assert_caller_never_dropped(timeline)
    assert len(timeline.party_legs("kc-kansas")) == 1  # Twilio did ring it
    assert said(timeline, "kc-kansas") == ['says "This transfer is no longer waiting. Thank you."']
    assert not timeline.connected("caller", "kc-kansas")
    assert timeline.connected("caller", "ks-statewide")
    transfer = harness.transfer(registered["transfer_id"])
    assert transfer.accepted() is not None and transfer.accepted().center_id == "ks-statewide"


def test_a_center_leg_placed_while_the_caller_hung_up_is_canceled_once_it_is_known(
    harness: Harness,
) -> None:
    """The caller's hang-up is handled (by another worker) while the request ringing the
    center is on its way: there is no leg to cancel yet. When its SID comes back, the
    gateway cancels it, instead of letting it ring for a caller who is gone."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    service = harness.app.extensions[EXTENSION].service

    def caller_hangs_up() -> None:
        caller_sid = harness.transfer(transfer_id).caller_sid
        with harness.app.app_context():
            service.caller_gone(transfer_id, caller_sid)

    harness.network_faults.append(
        NetworkFault("Calls.json", "slow", to=KC_KANSAS, meanwhile=caller_hangs_up)
    )
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        caller_actions=[{"at": 10, "hangup": True}],
    )

    (center,) = timeline.party_legs("kc-kansas")
    assert (center.status, center.ended_at, center.ended_by) == ("canceled", 0.0, "application")
    assert center.answered_at is None
    transfer = harness.transfer(transfer_id)
    assert (transfer.status, transfer.attempts[0].result) == (
        TransferStatus.ABANDONED,
        "caller-left",
    )


@pytest.mark.parametrize("seed", range(8))
def test_a_hand_off_and_a_hang_up_moments_apart_end_the_same_whatever_the_callback_order(
    harness: Harness, seed: int
) -> None:
    """The counselor joins at about 12 s and the caller hangs up at 13 s: their conference
    events (and the legs' status callbacks) arrive duplicated and up to 2 s late, in any
    order. The transfer ends as it would have in order: handed off, then ended, once."""
    registered = harness.register()
    transfer_id = registered["transfer_id"]
    stays = [{"at": 3, "press": "1"}, {"at": 100, "hangup": True}]
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=stays)],
        caller_actions=[{"at": 13, "hangup": True}],
        callbacks={"duplicate": True, "reorder": True, "seed": seed},
    )

    assert_caller_never_dropped(timeline)
    transfer = harness.transfer(transfer_id)
    assert (transfer.status, transfer.outcome) == (TransferStatus.ENDED, "handed-off")
    kinds = harness.kinds(transfer_id)
    assert kinds.count(EventKind.HANDOFF) == 1 and kinds.count(EventKind.ENDED) == 1
    # The counselor is released with the caller's room, not left in one of their own.
    (counselor,) = timeline.party_legs("kc-kansas")
    assert counselor.ended_at is not None and counselor.ended_at < 30


def test_a_caller_whose_wait_url_fails_rejoins_the_room_once_and_still_reaches_the_counselor(
    harness: Harness,
) -> None:
    """On Twilio a room whose waitUrl fails is not joined and the <Dial> action runs. The
    caller goes back in hearing the message once, with no waitUrl to fail again."""
    registered = harness.register()
    harness.lost_paths.add("/voice/wait")
    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        sip_headers={"X-Transfer-Id": registered["transfer_id"]},
    )

    assert not timeline.disconnected_by_application("caller")
    assert {e.text.split(":")[0] for e in timeline.errors()} == {"waitUrl https"}
    assert 'says "Please stay on the line.' in said(timeline, "caller")[0]
    (talk,) = timeline.connections("caller")
    assert talk.b == "kc-kansas"
