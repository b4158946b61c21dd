"""Each registered transfer hands the store a record whose personal fields are protected."""

from __future__ import annotations

from gateway.adapters.store.privacy import Cipher, caller_hash
from tests.app.harness import CALLER_HASH_KEY, ELIGIBLE, ENCRYPTION_KEY, Harness


def test_a_registered_transfer_is_recorded_with_the_number_hashed_and_encrypted(
    harness: Harness,
) -> None:
    registered = harness.register()

    (record,) = harness.recorder.records
    assert record.transfer_id == registered["transfer_id"]
    assert (record.psap_id, record.center_id, record.county_fips) == (
        "wyandotte-911",
        "kc-kansas",
        "20209",
    )
    assert (record.risk, record.call_type, record.method) == ("mild", "emotional-distress", "point")
    assert record.caller_hash == caller_hash(CALLER_HASH_KEY, ELIGIBLE["callback_number"])
    cipher = Cipher(ENCRYPTION_KEY)
    assert record.caller_encrypted is not None
    assert cipher.decrypt(record.caller_encrypted).endswith("8165550123")
    assert record.summary_encrypted is not None
    assert cipher.decrypt(record.summary_encrypted) == ELIGIBLE["summary"]


def test_the_queued_form_of_the_record_holds_no_clear_number_summary_or_coordinate(
    harness: Harness,
) -> None:
    harness.register()

    (record,) = harness.recorder.records
    payload = record.to_json()
    assert "8165550123" not in payload
    assert str(ELIGIBLE["summary"])[:20] not in payload
    assert "39.11" not in payload and "94.62" not in payload


def test_a_refused_transfer_is_not_recorded(harness: Harness) -> None:
    response = harness.post_json("/api/v1/transfers", {**ELIGIBLE, "risk": "higher"})

    assert response.status_code == 422
    assert harness.recorder.records == []
