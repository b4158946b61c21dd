"""Warnings about a valid table set: things that route, but not as an administrator meant.

`load_tables` refuses a set that cannot route. These checks look at a set that loaded and
point at what will surprise someone later: a center every transfer to would be refused, an
API key for a PSAP or center the tables do not have, a PSAP whose callers reach no center of
their own at some hour of the week. They never stop a set from being used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from routing.hours import DAY_NAMES
from routing.model import Center, RoutingTables

REFERENCE_MONDAY = datetime(2025, 1, 6)
"""The week hours are judged over: a plain week with no daylight-saving change."""


@dataclass(frozen=True)
class TableWarning:
    """One warning, naming where it comes from (a table file or a setting) and why."""

    file: str
    entry: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.reason}"


def table_warnings(
    tables: RoutingTables,
    psap_key_owners: Iterable[str] = (),
    center_key_owners: Iterable[str] = (),
) -> list[TableWarning]:
    """Every warning about `tables`, given who the configured API keys speak for.

    Warned of: a center serving a PSAP's county that no partnership lets anyone transfer to;
    a key naming a PSAP or center the tables lack; a PSAP whose counties' centers (backups
    before the national line included) are all closed at some hour of the week.

    Args:
        tables: a loaded, valid table set.
        psap_key_owners: the PSAP ids PSAP_API_KEYS names.
        center_key_owners: the center ids CENTER_API_KEYS names.
    """
    return [
        *_centers_nobody_may_transfer_to(tables),
        *_unknown_owners(psap_key_owners, tables.psaps, "PSAP_API_KEYS", "psap"),
        *_unknown_owners(center_key_owners, tables.centers, "CENTER_API_KEYS", "center"),
        *_psap_hours_gaps(tables),
    ]


def _centers_nobody_may_transfer_to(tables: RoutingTables) -> list[TableWarning]:
    # A transfer is checked against the partnership with the center serving the caller's
    # location, so a center serving a PSAP's own county without any partnership is a center
    # every transfer of that PSAP's local callers is refused at (422).
    open_to = {center for (_, center), p in tables.partnerships.items() if p.call_types}
    found: dict[str, tuple[str, str]] = {}
    for psap in sorted(tables.psaps.values(), key=lambda p: p.id):
        for fips in psap.service_area:
            center_id = tables.county_centers.get(fips)
            if center_id and center_id not in open_to:
                found.setdefault(center_id, (fips, psap.id))
    return [
        TableWarning(
            "partnerships.yaml",
            f"center {center_id}",
            f"serves county {fips} of psap {psap_id}, but no partnership lets any PSAP transfer "
            "to it: every transfer routed to it will be refused",
        )
        for center_id, (fips, psap_id) in sorted(found.items())
    ]


def _unknown_owners(
    owners: Iterable[str], known: Iterable[str], variable: str, noun: str
) -> list[TableWarning]:
    ids = set(known)
    return [
        TableWarning(variable, owner, f"a key is given for {noun} '{owner}', which the tables lack")
        for owner in sorted(set(owners) - ids)
    ]


def _psap_hours_gaps(tables: RoutingTables) -> list[TableWarning]:
    warnings = []
    for psap in sorted(tables.psaps.values(), key=lambda p: p.id):
        gap = _first_gap(tables, psap.service_area)
        if gap:
            at, fips = gap
            local = at.astimezone(ZoneInfo(psap.timezone))
            when = f"{DAY_NAMES[local.weekday()]} {local:%H:%M}"
            warnings.append(
                TableWarning(
                    "psaps.yaml",
                    f"psap {psap.id}",
                    f"no center serving county {fips} is open on {when} ({psap.timezone}): "
                    "its callers go straight to the national line then",
                )
            )
    return warnings


def _first_gap(tables: RoutingTables, counties: Sequence[str]) -> tuple[datetime, str] | None:
    """The earliest instant of the reference week when a county's centers are all closed."""
    chains: dict[tuple[str, ...], str] = {}
    for fips in counties:
        center_id = tables.county_centers.get(fips)
        if center_id:
            chain = (center_id, *tables.centers[center_id].backups)
            chains.setdefault(tuple(c for c in chain if c != tables.national_backup), fips)
    gaps = []
    for chain, fips in chains.items():
        centers = [tables.centers[c] for c in chain]
        closed = [at for at in _closing_times(centers) if not any(_open(c, at) for c in centers)]
        if closed:
            gaps.append((min(closed), fips))
    return min(gaps) if gaps else None


def _closing_times(centers: Iterable[Center]) -> list[datetime]:
    # All the chain's centers closed at once begins when the last of them closes: at the end
    # of one of their windows. So those instants are the only ones to look at.
    times = []
    for center in centers:
        tz = ZoneInfo(center.timezone)
        for w in () if center.hours.always else center.hours.windows:
            day = REFERENCE_MONDAY + timedelta(days=w.weekday + (1 if w.end <= w.start else 0))
            local = day.replace(hour=w.end.hour, minute=w.end.minute, tzinfo=tz)
            times.append(_in_week(local))
    return times


def _in_week(at: datetime) -> datetime:
    # A Sunday-night window ends on the Monday after the reference week: the same weekly
    # instant is its first Monday.
    end = REFERENCE_MONDAY.replace(tzinfo=at.tzinfo) + timedelta(days=7)
    return at - timedelta(days=7) if at >= end else at


def _open(center: Center, at: datetime) -> bool:
    return center.hours.weekly_open(at, ZoneInfo(center.timezone))
