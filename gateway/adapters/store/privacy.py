"""Personal fields, protected before they leave the web process.

The web process turns the caller's number, the 911 summary and the coordinates into a
`TransferRecord` with `protect_transfer`, then enqueues `TransferRecord.to_json()`: Redis,
the RQ job arguments and the worker's logs only ever see

- `caller_hash`: HMAC-SHA256 of the E.164 number under CALLER_HASH_KEY (links repeat
  callers; without the key nobody can test a guessed number against it);
- `caller_encrypted`, `summary_encrypted`, `location_encrypted`: Fernet tokens under
  ENCRYPTION_KEY (AES-128-CBC + HMAC-SHA256), kept only when that key is configured;
- coordinates only rounded to COORDINATE_DECIMALS (and only inside the encrypted location).

Without CALLER_HASH_KEY no hash is kept (an unkeyed hash of a phone number is reversible by
trying all ten-digit numbers); without ENCRYPTION_KEY no number, summary or location is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from gateway.domain.events import EventDataError
from gateway.settings import Settings

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# Fernet tokens are url-safe base64 of a version byte 0x80: they always begin "gAAAAA".
_FERNET_TOKEN = re.compile(r"^gAAAAA[A-Za-z0-9_=-]+$")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# What `redact` masks in log text: runs of 7+ digits (allowing the usual separators), and
# numbers with four or more decimals (coordinates to about 10 m).
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s().-]*\d){6,}")
_DECIMALS = re.compile(r"-?\d{1,3}\.\d{4,}")


def redact(text: str) -> str:
    """Mask phone-number-like and coordinate-like substrings, for log messages.

    Args:
        text: any text that may have come from outside (an exception message, a payload).

    Returns:
        The text with such substrings replaced by "[redacted]".
    """
    return _DIGIT_RUN.sub("[redacted]", _DECIMALS.sub("[redacted]", text))


def normalize_number(number: str) -> str:
    """The E.164 form of a North American or international number, for hashing.

    "+1 (785) 555-0101", "785-555-0101" and "17855550101" all give "+17855550101", so the
    same caller hashes the same whichever way the number was written.
    """
    digits = re.sub(r"\D", "", number)
    if len(digits) == 10 and not number.strip().startswith("+"):
        digits = "1" + digits
    if not 8 <= len(digits) <= 15:
        raise ValueError("not a phone number")
    return "+" + digits


def caller_hash(key: str, number: str) -> str:
    """HMAC-SHA256 of the normalized number under `key`, as 64 hex digits."""
    if not key:
        raise ValueError("a caller hash needs CALLER_HASH_KEY")
    message = normalize_number(number).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


class Cipher:
    """Fernet encryption under ENCRYPTION_KEY."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError:
            raise ValueError(
                "ENCRYPTION_KEY must be a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> Cipher | None:
        """The cipher for the configured key, or None when no key is configured."""
        return cls(settings.encryption_key) if settings.encryption_key else None

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt a token. Raises ValueError when it was not made with this key."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("token not made with this ENCRYPTION_KEY") from None


@dataclass(frozen=True)
class TransferRecord:
    """What the call flow records about a transfer, personal fields already protected.

    Attributes:
        transfer_id: the gateway's transfer id.
        created_at: when the transfer was requested (timezone-aware).
        psap_id, center_id, county_fips, method, risk, call_type, language: non-personal
            descriptors (center_id is the first-choice center).
        caller_hash: `caller_hash(CALLER_HASH_KEY, number)`, or None.
        caller_encrypted, summary_encrypted, location_encrypted: Fernet tokens, or None.
            The location is "lat,lon" already rounded to COORDINATE_DECIMALS.
    """

    transfer_id: str
    created_at: datetime
    psap_id: str | None = None
    center_id: str | None = None
    county_fips: str | None = None
    method: str | None = None
    risk: str | None = None
    call_type: str | None = None
    language: str | None = None
    caller_hash: str | None = None
    caller_encrypted: str | None = None
    summary_encrypted: str | None = None
    location_encrypted: str | None = None

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None:
            raise EventDataError("created_at must be timezone-aware")
        if not _ID.match(self.transfer_id):
            raise EventDataError("transfer_id is not an id")
        if self.caller_hash is not None and not _HEX64.match(self.caller_hash):
            raise EventDataError("caller_hash is not an HMAC-SHA256 hex digest")
        for name in ("caller_encrypted", "summary_encrypted", "location_encrypted"):
            value = getattr(self, name)
            if value is not None and not _FERNET_TOKEN.match(value):
                raise EventDataError(f"{name} is not a Fernet token")
        for name in ("psap_id", "center_id", "county_fips", "method", "risk", "call_type"):
            value = getattr(self, name)
            if value is not None and redact(value) != value:
                raise EventDataError(f"{name} looks like a phone number or coordinate")

    def to_json(self) -> str:
        """The job payload: ids, the hash and Fernet tokens only."""
        data: dict[str, Any] = asdict(self)
        data["created_at"] = self.created_at.astimezone(UTC).isoformat()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TransferRecord:
        """Parse `to_json` output. Raises EventDataError (not retried) on a bad payload."""
        try:
            raw = json.loads(text)
            raw["created_at"] = datetime.fromisoformat(raw["created_at"])
            return cls(**raw)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, EventDataError):
                raise
            raise EventDataError(f"malformed transfer payload: {type(exc).__name__}") from None


def round_location(latitude: float, longitude: float, decimals: int) -> tuple[float, float]:
    """Round a position to `decimals` places (3: about 110 m; 0: about 110 km)."""
    if not 0 <= decimals <= 3:
        raise ValueError("coordinates are kept to at most 3 decimals")
    return round(latitude, decimals), round(longitude, decimals)


def protect_transfer(
    settings: Settings,
    record: TransferRecord,
    *,
    caller: str | None = None,
    summary: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> TransferRecord:
    """Add a transfer's personal fields to its record, protected (call in the web process).

    Args:
        settings: for CALLER_HASH_KEY, ENCRYPTION_KEY and COORDINATE_DECIMALS.
        record: the record with its non-personal fields.
        caller: the caller's number in clear; hashed and, with a key, encrypted.
        summary: the 911 call-taker's free-text summary; kept only encrypted.
        latitude, longitude: the caller's position; kept only rounded and encrypted.

    Returns:
        A record whose `to_json()` carries no clear number, summary or coordinate.
    """
    cipher = Cipher.from_settings(settings)
    key = settings.caller_hash_key
    return replace(
        record,
        caller_hash=caller_hash(key, caller) if caller and key else None,
        caller_encrypted=cipher.encrypt(normalize_number(caller)) if cipher and caller else None,
        summary_encrypted=cipher.encrypt(summary) if cipher and summary else None,
        location_encrypted=_location_token(settings, cipher, latitude, longitude),
    )


def _location_token(
    settings: Settings, cipher: Cipher | None, latitude: float | None, longitude: float | None
) -> str | None:
    if cipher is None or latitude is None or longitude is None:
        return None
    if settings.coordinate_decimals < 0:  # the county is all that is kept
        return None
    lat, lon = round_location(latitude, longitude, settings.coordinate_decimals)
    return cipher.encrypt(f"{lat},{lon}")


def decrypt_location(cipher: Cipher, token: str) -> tuple[float, float]:
    """The rounded (latitude, longitude) inside a `location_encrypted` token."""
    lat, lon = cipher.decrypt(token).split(",")
    return float(lat), float(lon)
