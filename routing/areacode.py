"""What today's area-code routing would do with a caller's number.

988 has routed by the caller's area code (NPA). The gateway never routes that way while it
knows anything better, but it always computes this answer beside its own, so call-takers and
analysts can see how often the two differ. phonenumbers' geocoder gives the region an NPA was
assigned to, which is what that routing goes by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import phonenumbers

from routing.errors import RoutingError
from routing.model import RoutingTables

# Area code -> state, extracted from phonenumbers' geocoder by scripts/build_npa_states.py:
# importing the geocoder itself costs about 100 MB and 0.3 s for these few hundred entries.
NPA_STATES_FILE = Path(__file__).resolve().parent / "data" / "npa_states.json"


@dataclass(frozen=True)
class AreaCodeDecision:
    """The center area-code routing picks: by the NPA table, by the NPA's state, or national."""

    npa: str
    state: str | None
    center_id: str
    how: str  # "npa" | "state" | "national"


def parse_e164(number: str) -> phonenumbers.PhoneNumber:
    """Parse and check an E.164 number ("+17855550101"), or raise RoutingError."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise RoutingError(f"{number!r} is not a phone number in E.164 form: {exc}") from None
    if not number.startswith("+") or not phonenumbers.is_valid_number(parsed):
        raise RoutingError(f"{number!r} is not a valid E.164 phone number")
    return parsed


@lru_cache(maxsize=1)
def npa_states() -> dict[str, str]:
    """The shipped area code -> USPS state table."""
    data = json.loads(NPA_STATES_FILE.read_text(encoding="utf-8"))
    table: dict[str, str] = data["npa_states"]
    return table


@lru_cache(maxsize=4096)
def npa_and_state(number: str) -> tuple[str, str | None]:
    """The area code of a NANP number and the USPS code of the state it was assigned to."""
    parsed = parse_e164(number)
    if parsed.country_code != 1:
        return "", None
    npa = str(parsed.national_number)[:3]
    return npa, npa_states().get(npa)


def area_code_decision(number: str, tables: RoutingTables) -> AreaCodeDecision:
    """Where area-code routing would send a call from `number`."""
    npa, state = npa_and_state(number)
    if npa in tables.area_codes:
        return AreaCodeDecision(npa, state, tables.area_codes[npa], "npa")
    if state is not None and state in tables.state_centers:
        return AreaCodeDecision(npa, state, tables.state_centers[state], "state")
    return AreaCodeDecision(npa, state, tables.national_backup, "national")
