"""A transfer belongs to its PSAP (issue 11, item 3): a PSAP's line claims only its own
transfers, however it names them; a number the tables do not know needs the transfer's
secret (X-Transfer-Id or the code); wrong codes are limited per call and per number."""

from __future__ import annotations

from gateway.domain.events import EventKind
from gateway.domain.transfer import TransferStatus
from gateway.services.keyed import CODE_REFUSALS
from tests.app.harness import (
    ACCEPTS,
    DOUGLAS_KEY,
    DOUGLAS_LINE,
    KC_KANSAS,
    UNKNOWN_LINE,
    Harness,
    assert_caller_never_dropped,
    line,
    said,
    shows_a_phone_number,
)

MENU = "9 8 8 transfer line. Enter the 6 digit transfer code"
HANG_UP_LATER = [{"at": 150, "hangup": True}]


def wrong_codes(right: str, count: int) -> list[str]:
    """`count` six-digit codes, none of them `right`."""
    return [f"{n:06d}" for n in range(1, count + 2) if f"{n:06d}" != right][:count]


def keying(codes: list[str], every_s: int = 15) -> list[dict[str, object]]:
    presses: list[dict[str, object]] = [
        {"at": 2 + i * every_s, "press": f"{code}#"} for i, code in enumerate(codes)
    ]
    return presses + HANG_UP_LATER


def test_douglas_countys_line_carrying_wyandottes_transfer_id_is_refused_and_the_real_caller_still_claims_it(  # noqa: E501
    harness: Harness,
) -> None:
    registered = harness.register()  # Wyandotte's
    header = {"X-Transfer-Id": registered["transfer_id"]}

    intruder = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        sip_headers=header,
        from_=DOUGLAS_LINE,
    )

    assert_caller_never_dropped(intruder)
    assert MENU in said(intruder, "caller")[0]
    assert intruder.party_legs("kc-kansas") == []  # nobody rung, nothing of the caller heard
    assert harness.transfer(registered["transfer_id"]).status == TransferStatus.PENDING

    real = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)], sip_headers=header
    )

    assert_caller_never_dropped(real)
    assert real.connected("caller", "kc-kansas")
    assert harness.transfer(registered["transfer_id"]).outcome == "handed-off"


def test_a_psap_line_cannot_claim_another_psaps_only_pending_transfer(harness: Harness) -> None:
    registered = harness.register()  # Wyandotte's only pending transfer

    timeline = harness.play([line(KC_KANSAS, "kc-kansas", answer=5)], from_=DOUGLAS_LINE)

    assert MENU in said(timeline, "caller")[0]
    assert harness.transfer(registered["transfer_id"]).status == TransferStatus.PENDING


def test_a_psap_line_keying_another_psaps_code_hears_it_was_not_found(harness: Harness) -> None:
    registered = harness.register()
    harness.register()  # two pending: the Douglas line is not matched by "only one" anyway

    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5)],
        caller_actions=keying([registered["transfer_code"]]),
        from_=DOUGLAS_LINE,
    )

    assert said(timeline, "caller")[1].startswith('says "That code was not found.')
    assert harness.transfer(registered["transfer_id"]).status == TransferStatus.PENDING


def test_douglas_county_still_claims_its_own_transfer_by_its_code(harness: Harness) -> None:
    harness.register()
    response = harness.post_json("/api/v1/transfers", _douglas_request(), key=DOUGLAS_KEY)
    assert response.status_code == 201, response.get_json()
    douglas = response.get_json()

    timeline = harness.play(
        [line("+17855550101", "ks-statewide", answer=5, actions=ACCEPTS)],
        caller_actions=keying([douglas["transfer_code"]]),
        from_=DOUGLAS_LINE,
    )

    assert harness.transfer(douglas["transfer_id"]).status != TransferStatus.PENDING
    assert_caller_never_dropped(timeline)


def _douglas_request() -> dict[str, object]:
    return {
        "callback_number": "+17855550123",
        "location": {"zip": "66044"},
        "risk": "mild",
        "call_type": "emotional-distress",
        "consent": True,
    }


def test_an_unknown_number_cannot_claim_a_pending_transfer_without_its_secret(
    harness: Harness,
) -> None:
    registered = harness.register()  # the only one pending: enough for Wyandotte's line

    timeline = harness.play([line(KC_KANSAS, "kc-kansas", answer=5)], from_=UNKNOWN_LINE)

    assert MENU in said(timeline, "caller")[0]
    assert harness.transfer(registered["transfer_id"]).status == TransferStatus.PENDING


def test_an_unknown_number_claims_a_transfer_by_its_header(harness: Harness) -> None:
    registered = harness.register()

    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        sip_headers={"X-Transfer-Id": registered["transfer_id"]},
        from_=UNKNOWN_LINE,
    )

    assert_caller_never_dropped(timeline)
    assert timeline.connected("caller", "kc-kansas")


def test_an_unknown_number_claims_a_transfer_by_its_code(harness: Harness) -> None:
    registered = harness.register()

    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        caller_actions=keying([registered["transfer_code"]]),
        from_=UNKNOWN_LINE,
    )

    assert_caller_never_dropped(timeline)
    assert timeline.connected("caller", "kc-kansas")


def test_after_three_wrong_codes_the_call_stays_with_911_hears_why_and_is_recorded(
    harness: Harness,
) -> None:
    registered = harness.register()
    codes = [*wrong_codes(registered["transfer_code"], 3), registered["transfer_code"]]

    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        caller_actions=keying(codes),
        from_=UNKNOWN_LINE,
    )

    assert_caller_never_dropped(timeline)
    heard = said(timeline, "caller")
    assert heard[1].startswith('says "That code was not found.')
    assert heard[3] == f'says "{CODE_REFUSALS["too-many-codes"]}"'
    # The fourth, right, code is never heard: the call-taker is no longer at the menu.
    assert harness.transfer(registered["transfer_id"]).status == TransferStatus.PENDING
    assert timeline.party_legs("kc-kansas") == []
    refused = [e for e in harness.sink.events if e.kind == EventKind.DECLINED_AT_TRIAGE]
    assert [e.data["reason"] for e in refused] == ["too-many-codes"]
    requested = harness.sink.kinds(refused[0].transfer_id)
    assert requested == [EventKind.REQUESTED, EventKind.DECLINED_AT_TRIAGE]


def test_wrong_codes_from_one_number_over_several_calls_are_limited_then_refused(
    harness: Harness,
) -> None:
    registered = harness.register()
    right = registered["transfer_code"]
    wrong = wrong_codes(right, 10)
    for start in range(0, 8, 2):  # four calls, two wrong codes each: under 3 a call
        harness.play([], caller_actions=keying(wrong[start : start + 2]), from_=UNKNOWN_LINE)
    tenth = harness.play([], caller_actions=keying(wrong[8:10]), from_=UNKNOWN_LINE)
    assert said(tenth, "caller")[2] == f'says "{CODE_REFUSALS["codes-rate-limited"]}"'

    limited = harness.play([], caller_actions=keying([right]), from_=UNKNOWN_LINE)

    assert_caller_never_dropped(limited)
    assert said(limited, "caller")[1] == f'says "{CODE_REFUSALS["codes-rate-limited"]}"'
    assert harness.transfer(registered["transfer_id"]).status == TransferStatus.PENDING
    refused = [e for e in harness.sink.events if e.kind == EventKind.DECLINED_AT_TRIAGE]
    assert [e.data["reason"] for e in refused] == ["codes-rate-limited"] * 2
    # The counter is keyed by a keyed hash of the number, never the number.
    keys = [k.decode() for k in harness.redis.scan_iter("g988:code-tries:*")]
    assert keys and not any(shows_a_phone_number(k) or "5550199" in k for k in keys)
    assert all(0 < harness.redis.ttl(k) <= 900 for k in keys)  # forgotten with the window

    another = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
        caller_actions=keying([right]),
    )
    assert another.connected("caller", "kc-kansas")  # Wyandotte's own line is not limited
