"""No clear personal data in the live state (issue 11, item 6): the 911 summary, the
callback number and the location are kept in Redis only as Fernet tokens under
ENCRYPTION_KEY, and the whispers that need them still read them."""

from __future__ import annotations

import re

import pytest
import redis

from gateway.adapters.store.privacy import Cipher
from routing.engine import Router
from tests.app.harness import (
    ACCEPTS,
    ENCRYPTION_KEY,
    KANSAS_CITY_KS,
    KC_KANSAS,
    Harness,
    assert_caller_never_dropped,
    line,
    said,
)

# A summary holding what a call-taker might well type: another phone number and a position.
SUMMARY = "Sister at 913-555-0177 is with him near 39.1141, -94.6275; no weapons."
CALLBACK = "+18165550123"
# Every way the callback number, the summary's number and the coordinates could be written.
FORBIDDEN = [
    CALLBACK,
    "18165550123",
    "8165550123",
    "816-555-0123",
    "(816) 555-0123",
    "913-555-0177",
    "9135550177",
    "39.1141",
    "94.6275",
    "Sister",
    "weapons",
]
PRESS_3_THEN_1 = [{"at": 3, "press": "3"}, {"at": 30, "press": "1"}, {"at": 90, "hangup": True}]


def everything_in(client: redis.Redis) -> list[str]:
    """Every key of the database and every value under it, whatever its type, as text."""
    texts: list[str] = []
    for raw_key in client.scan_iter(count=500):
        texts.append(raw_key.decode(errors="replace"))
        kind = client.type(raw_key).decode()
        if kind == "string":
            parts: list[bytes] = [client.get(raw_key) or b""]
        elif kind == "hash":
            parts = [b for pair in client.hgetall(raw_key).items() for b in pair]
        elif kind == "list":
            parts = list(client.lrange(raw_key, 0, -1))
        elif kind == "set":
            parts = list(client.smembers(raw_key))
        elif kind == "zset":
            parts = list(client.zrange(raw_key, 0, -1))
        else:
            parts = [repr(client.dump(raw_key)).encode()]
        texts += [part.decode(errors="replace") for part in parts]
    return texts


def clear_details_in(client: redis.Redis) -> list[str]:
    digits_only = re.compile(r"\D")
    found = []
    for text in everything_in(client):
        bare = digits_only.sub("", text)
        found += [word for word in FORBIDDEN if word in text]
        found += [number for number in ("8165550123", "9135550177") if number in bare]
    return found


def test_after_a_whole_transfer_no_redis_key_or_value_holds_the_number_summary_or_place(
    harness: Harness,
) -> None:
    registered = harness.register(
        summary=SUMMARY, callback_number=CALLBACK, location=KANSAS_CITY_KS
    )

    timeline = harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=PRESS_3_THEN_1)],
        sip_headers={"X-Transfer-Id": registered["transfer_id"]},
    )

    assert_caller_never_dropped(timeline)
    # The counselor who asked (3) heard them: sealed is not lost.
    replay = said(timeline, "kc-kansas")[1]
    assert "Summary from 9 1 1: Sister at 913-555-0177" in replay, replay
    assert "Callback number 8 1 6, 5 5 5, 0 1 2 3." in replay
    assert timeline.connected("caller", "kc-kansas")
    assert clear_details_in(harness.redis) == []


def test_the_sealed_details_open_only_with_the_gateways_key(harness: Harness) -> None:
    registered = harness.register(summary=SUMMARY, callback_number=CALLBACK)

    transfer = harness.transfer(registered["transfer_id"])

    cipher = Cipher(ENCRYPTION_KEY)
    assert cipher.decrypt(transfer.summary_sealed) == SUMMARY
    assert cipher.decrypt(transfer.callback_sealed) == CALLBACK
    other = Cipher("b3RoZXIta2V5LW5vdC10aGUtZ2F0ZXdheXMtb3duLTE=")
    with pytest.raises(ValueError, match="not made with this ENCRYPTION_KEY"):
        other.decrypt(transfer.summary_sealed)


def test_the_callback_number_the_psap_equipment_sends_is_kept_sealed_until_keyed(
    harness: Harness,
) -> None:
    harness.play(
        [line(KC_KANSAS, "kc-kansas", answer=5, actions=PRESS_3_THEN_1)],
        caller_actions=[{"at": 2, "press": "66101#"}, {"at": 120, "hangup": True}],
        sip_headers={"X-Callback-Number": CALLBACK},
    )

    remembered = [k for k in harness.redis.scan_iter("g988:callback:*")]
    assert remembered, "the header's number was not kept for the keyed transfer"
    assert all((harness.redis.get(k) or b"").startswith(b"gAAAAA") for k in remembered)
    assert clear_details_in(harness.redis) == []


def test_without_a_key_the_summary_and_number_are_not_kept_at_all(
    router: Router, gateway_redis: redis.Redis
) -> None:
    keyless = Harness(router, gateway_redis, encryption_key="")
    try:
        registered = keyless.register(summary=SUMMARY, callback_number=CALLBACK)
        transfer = keyless.transfer(registered["transfer_id"])
        assert (transfer.summary_sealed, transfer.callback_sealed) == ("", "")
        timeline = keyless.play(
            [line(KC_KANSAS, "kc-kansas", answer=5, actions=ACCEPTS)],
            sip_headers={"X-Transfer-Id": registered["transfer_id"]},
        )
        assert said(timeline, "kc-kansas")[0].endswith('Press 1 to accept, 2 to decline."')
        assert clear_details_in(gateway_redis) == []
    finally:
        keyless.close()
