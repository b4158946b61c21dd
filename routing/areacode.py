"""What today's area-code routing would do with a caller's number.

988 has routed by the caller's area code (NPA). The gateway never routes that way while it
knows anything better, but it always computes this answer beside its own, so call-takers and
analysts can see how often the two differ. phonenumbers' geocoder gives the region an NPA was
assigned to, which is what that routing goes by.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import geocoder

from routing.errors import RoutingError
from routing.model import RoutingTables
from routing.states import NAME_TO_ABBR


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


@lru_cache(maxsize=4096)
def npa_and_state(number: str) -> tuple[str, str | None]:
    """The area code of a NANP number and the USPS code of the state it was assigned to."""
    parsed = parse_e164(number)
    if parsed.country_code != 1:
        return "", None
    npa = str(parsed.national_number)[:3]
    region = geocoder.description_for_number(parsed, "en")
    # The geocoder says "Kansas" or "Kansas City, MO": take the state either way.
    state = NAME_TO_ABBR.get(region.lower())
    if state is None and ", " in region:
        state = region.rsplit(", ", 1)[1].upper()
    return npa, state


def area_code_decision(number: str, tables: RoutingTables) -> AreaCodeDecision:
    """Where area-code routing would send a call from `number`."""
    npa, state = npa_and_state(number)
    if npa in tables.area_codes:
        return AreaCodeDecision(npa, state, tables.area_codes[npa], "npa")
    if state is not None and state in tables.state_centers:
        return AreaCodeDecision(npa, state, tables.state_centers[state], "state")
    return AreaCodeDecision(npa, state, tables.national_backup, "national")
