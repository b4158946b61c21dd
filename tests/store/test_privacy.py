"""Personal fields leave the web process hashed, encrypted or rounded, never in clear."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from gateway.adapters.store.privacy import (
    Cipher,
    TransferRecord,
    caller_hash,
    decrypt_location,
    normalize_number,
    protect_transfer,
    redact,
)
from gateway.domain.events import EventDataError
from gateway.settings import Settings
from tests.store.factories import T0

KEY = Fernet.generate_key().decode()
CALLER = "+1 (785) 555-0101"
SUMMARY = "Caller at 1200 Main St, anxious, asked for a counselor."


def protected(settings: Settings) -> TransferRecord:
    base = TransferRecord(transfer_id="tr_p", created_at=T0, psap_id="psap-douglas")
    return protect_transfer(
        settings, base, caller=CALLER, summary=SUMMARY, latitude=39.11412, longitude=-94.62731
    )


def test_every_way_of_writing_a_number_hashes_the_same() -> None:
    forms = ["+1 (785) 555-0101", "785-555-0101", "17855550101", "+17855550101"]
    assert {normalize_number(n) for n in forms} == {"+17855550101"}
    assert len({caller_hash("k", n) for n in forms}) == 1


def test_the_hash_depends_on_the_key() -> None:
    assert caller_hash("key-a", CALLER) != caller_hash("key-b", CALLER)
    with pytest.raises(ValueError, match="CALLER_HASH_KEY"):
        caller_hash("", CALLER)


def test_the_job_payload_holds_no_number_summary_or_coordinate() -> None:
    settings = Settings(caller_hash_key="h", encryption_key=KEY, coordinate_decimals=3)
    payload = protected(settings).to_json()
    for clear in ("7855550101", "555-0101", "Main St", "39.11", "94.62", "94.63"):
        assert clear not in payload
    record = TransferRecord.from_json(payload)
    cipher = Cipher(KEY)
    assert record.caller_encrypted and cipher.decrypt(record.caller_encrypted) == "+17855550101"
    assert record.summary_encrypted and cipher.decrypt(record.summary_encrypted) == SUMMARY
    assert record.location_encrypted
    assert decrypt_location(cipher, record.location_encrypted) == (39.114, -94.627)


def test_without_an_encryption_key_only_the_hash_is_kept() -> None:
    record = protected(Settings(caller_hash_key="h", coordinate_decimals=3))
    assert record.caller_hash is not None
    assert (record.caller_encrypted, record.summary_encrypted, record.location_encrypted) == (
        None,
        None,
        None,
    )


def test_without_a_hash_key_no_hash_is_kept() -> None:
    # An unkeyed hash of a ten-digit number is reversed by trying every number.
    assert protected(Settings(encryption_key=KEY)).caller_hash is None


def test_coordinates_are_dropped_when_only_the_county_is_kept() -> None:
    record = protected(Settings(encryption_key=KEY, coordinate_decimals=-1))
    assert record.location_encrypted is None


def test_a_payload_with_a_clear_number_in_place_of_the_hash_is_refused() -> None:
    payload = json.loads(protected(Settings(caller_hash_key="h")).to_json())
    payload["caller_hash"] = "+17855550101"
    with pytest.raises(EventDataError, match="caller_hash"):
        TransferRecord.from_json(json.dumps(payload))


def test_a_payload_with_a_clear_summary_in_place_of_a_token_is_refused() -> None:
    payload = json.loads(protected(Settings(encryption_key=KEY)).to_json())
    payload["summary_encrypted"] = SUMMARY
    with pytest.raises(EventDataError, match="summary_encrypted"):
        TransferRecord.from_json(json.dumps(payload))


def test_a_payload_that_is_not_json_is_refused_without_echoing_it() -> None:
    with pytest.raises(EventDataError) as caught:
        TransferRecord.from_json("+17855550101 not json")
    assert "7855550101" not in str(caught.value)


def test_a_token_from_another_key_does_not_decrypt() -> None:
    token = Cipher(Fernet.generate_key().decode()).encrypt("+17855550101")
    with pytest.raises(ValueError, match="ENCRYPTION_KEY"):
        Cipher(KEY).decrypt(token)


def test_a_malformed_encryption_key_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="ENCRYPTION_KEY"):
        Cipher("not-a-fernet-key")


def test_redact_masks_numbers_and_precise_coordinates_in_log_text() -> None:
    text = "bad at '+1 785-555-0101' near 39.11412,-94.62731 for tr_9f2c county 20045"
    assert redact(text) == "bad at '[redacted]' near [redacted],[redacted] for tr_9f2c county 20045"
