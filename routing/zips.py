"""What a US ZIP code says about where a caller is: state, county, city and a centre point.

Backed by routing/data/zips.tsv.gz, derived from the `zipcodes` package's data set by
scripts/build_zip_table.py with each county already resolved to its FIPS code, so nothing is
fetched at run time and the table costs a few MB instead of the package's 50.
A ZIP is a postal route, not an area: it can straddle a county line, and the county given
here is the one the data set assigns to it. That is good enough to pick a state's 988
center, and a reason to prefer coordinates when a call has them.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from routing.errors import LocationError, UnknownZipError

ZIP_TABLE = Path(__file__).resolve().parent / "data" / "zips.tsv.gz"

# [0-9], not \d: \d also matches other scripts' digits, which no ZIP contains.
_ZIP = re.compile(r"([0-9]{5})(?:-[0-9]{4})?")


@dataclass(frozen=True)
class ZipInfo:
    """One 5-digit ZIP code and the place the data set puts it.

    Attributes:
        zip: the 5-digit ZIP, without any +4.
        state: USPS abbreviation, e.g. "KS" (or "AA", "AE", "AP" for military mail).
        county_fips: the county's 5-digit FIPS code; None for the few ZIPs the data set
            places in no county.
        county_name: readable on its own, e.g. "Wyandotte County" or "St. Louis city";
            None for the few ZIPs (post-office boxes, some territories) without one.
        city: the USPS preferred city name, e.g. "Kansas City".
        lat: latitude of the ZIP's centre, degrees.
        lon: longitude of the ZIP's centre, degrees.
        area_codes: telephone area codes that serve the ZIP, e.g. ("913",).
    """

    zip: str
    state: str
    county_fips: str | None
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
    """Loads the ZIP table now, so that no caller's first lookup waits for it."""
    _table()


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    """ZIP -> its raw table line; parsed only when looked up (most never are)."""
    with gzip.open(ZIP_TABLE, "rt", encoding="utf-8") as handle:
        next(handle)  # header
        return {line[:5]: line.rstrip("\n") for line in handle}


def _lookup_five_digits(zip5: str) -> ZipInfo | None:
    line = _table().get(zip5)
    if line is None:
        return None
    zip_, state, fips, county, city, lat, lon, codes = line.split("\t")
    if not lat:
        # The data set puts overseas APO/FPO/DPO ZIPs at 0,0: they name no place in the US.
        raise UnknownZipError(
            f"ZIP code {zip_} ({city}, {state}) is military or diplomatic mail "
            "with no location in the data set"
        )
    return ZipInfo(
        zip=zip_,
        state=state,
        county_fips=fips or None,
        county_name=county or None,
        city=city,
        lat=float(lat),
        lon=float(lon),
        area_codes=tuple(c for c in codes.split(",") if c),
    )
