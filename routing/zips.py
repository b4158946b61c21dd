"""What a US ZIP code says about where a caller is: state, county, city and a centre point.

Backed by the `zipcodes` package, which ships its data, so nothing is fetched at run time.
A ZIP is a postal route, not an area: it can straddle a county line, and the county given
here is the one the data set assigns to it. That is good enough to pick a state's 988
center, and a reason to prefer coordinates when a call has them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import zipcodes

from routing.errors import LocationError, UnknownZipError

# [0-9], not \d: \d also matches other scripts' digits, which no ZIP contains.
_ZIP = re.compile(r"([0-9]{5})(?:-[0-9]{4})?")

# `zipcodes` has no type hints; this is the shape of what `matching` returns.
_matching: Callable[[str], list[dict[str, Any]]] = zipcodes.matching


@dataclass(frozen=True)
class ZipInfo:
    """One 5-digit ZIP code and the place the data set puts it.

    Attributes:
        zip: the 5-digit ZIP, without any +4.
        state: USPS abbreviation, e.g. "KS" (or "AA", "AE", "AP" for military mail).
        county_name: readable on its own, e.g. "Wyandotte County" or "St. Louis city";
            None for the few ZIPs (post-office boxes, some territories) without one.
        city: the USPS preferred city name, e.g. "Kansas City".
        lat: latitude of the ZIP's centre, degrees.
        lon: longitude of the ZIP's centre, degrees.
        area_codes: telephone area codes that serve the ZIP, e.g. ("913",).
    """

    zip: str
    state: str
    county_name: str | None
    city: str
    lat: float
    lon: float
    area_codes: tuple[str, ...]


def lookup_zip(zip_code: str) -> ZipInfo:
    """Looks up a US ZIP code.

    Args:
        zip_code: "66101" or ZIP+4 "66101-1234"; surrounding spaces are ignored.

    Returns:
        The ZIP's state, county, city and centre.

    Raises:
        LocationError: `zip_code` is not five digits with an optional "-" and four digits.
        UnknownZipError: no such ZIP, or one with no place on the map (overseas military
            mail), so it cannot say where the caller is.
    """
    if not isinstance(zip_code, str):
        raise LocationError(f"a ZIP code must be text, not {type(zip_code).__name__}")
    match = _ZIP.fullmatch(zip_code.strip())
    if match is None:
        raise LocationError(f"{zip_code!r} is not a ZIP code: expected 12345 or 12345-6789")
    info = _lookup_five_digits(match.group(1))
    if info is None:
        raise UnknownZipError(f"ZIP code {match.group(1)} is not in the US ZIP code data set")
    return info


def preload() -> None:
    """Loads the ZIP data set now, so that no caller's first lookup waits for it.

    `zipcodes` reads its data on first use, which takes about a third of a second; call this
    once at start-up, off the request path.
    """
    _matching("66101")


# Keyed on the 5-digit ZIP so every +4 of one ZIP shares an entry. Misses are cached too
# (as None): a caller retrying a wrong ZIP should cost no more than a right one.
@lru_cache(maxsize=8192)
def _lookup_five_digits(zip5: str) -> ZipInfo | None:
    try:
        matches = _matching(zip5)
    except (TypeError, ValueError) as exc:  # the regex should make this unreachable
        raise LocationError(f"{zip5!r} is not a ZIP code: {exc}") from exc
    if not matches:
        return None
    return _zip_info(zip5, matches[0])


def _zip_info(zip5: str, record: dict[str, Any]) -> ZipInfo:
    lat, lon = _coordinate(record.get("lat")), _coordinate(record.get("long"))
    if lat is None or lon is None:
        # The data set puts overseas APO/FPO/DPO ZIPs at 0,0: they name no place in the US.
        raise UnknownZipError(
            f"ZIP code {zip5} ({record.get('city', '?')}, {record.get('state', '?')}) is "
            "military or diplomatic mail with no location in the data set"
        )
    return ZipInfo(
        zip=zip5,
        state=str(record["state"]),
        county_name=str(record.get("county") or "") or None,
        city=str(record.get("city") or ""),
        lat=lat,
        lon=lon,
        area_codes=tuple(str(code) for code in record.get("area_codes") or ()),
    )


def _coordinate(value: object) -> float | None:
    """A latitude or longitude from the data set; None for blank or the 0 placeholder."""
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if number != 0.0 else None
