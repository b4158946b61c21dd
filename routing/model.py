"""The routing tables as the core sees them once loaded and validated.

Everything is frozen: a loaded table set is shared by all requests of a process and replaced
whole (never edited in place) when an administrator reloads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from shapely.geometry.base import BaseGeometry


class Risk(StrEnum):
    """SAMHSA triage levels (see DOMAIN.md). Only LOW and MILD may ever transfer to 988."""

    LOW = "low"
    MILD = "mild"
    MODERATE = "moderate"
    HIGHER = "higher"


TRANSFERABLE_RISKS = frozenset({Risk.LOW, Risk.MILD})


@dataclass(frozen=True)
class Window:
    """One weekly opening: `weekday` (0 = Monday) from `start` to `end` local time.

    An `end` at or before `start` runs past midnight into the next day ("22:00-06:00").
    """

    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class Holiday:
    """A date with hours of its own, from 00:00 to 24:00 local time: `spans` () is closed.

    A span's `end` of 00:00 means midnight at the end of the day.
    """

    day: date
    name: str
    spans: tuple[tuple[time, time], ...] = ()

    def is_open(self, now: time) -> bool:
        return any(s <= now and (now < e or e == time(0)) for s, e in self.spans)


@dataclass(frozen=True)
class Closure:
    """A temporary closure (a move, an outage), local times, `start` included, `end` not."""

    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True)
class Hours:
    """When a center answers. `always` means 24/7; otherwise the weekly windows apply.

    Holidays replace the weekly hours on their date; closures close the center whatever the
    other hours say (a 24/7 center too).
    """

    always: bool
    windows: tuple[Window, ...] = ()
    text: str = "24/7"
    holidays: tuple[Holiday, ...] = ()
    closures: tuple[Closure, ...] = ()

    def is_open(self, at: datetime, tz: ZoneInfo) -> bool:
        """Whether the center is open at an aware datetime `at`, judged in its own time zone."""
        local = at.astimezone(tz).replace(tzinfo=None)
        if self._closure(local) is not None:
            return False
        holiday = self._holiday(local.date())
        if holiday is not None:
            return holiday.is_open(local.time())
        return self.weekly_open(at, tz)

    def closed_because(self, at: datetime, tz: ZoneInfo) -> str:
        """Why the center is closed at `at`, in words for a note (it is assumed closed)."""
        local = at.astimezone(tz).replace(tzinfo=None)
        closure = self._closure(local)
        if closure is not None:
            return f"closed until {closure.end:%Y-%m-%d %H:%M}: {closure.reason}"
        holiday = self._holiday(local.date())
        if holiday is not None:
            return f"closed for {holiday.name}"
        return f"closed ({self.text})"

    def weekly_open(self, at: datetime, tz: ZoneInfo) -> bool:
        """Whether the weekly hours alone (no holiday, no closure) are open at `at`."""
        if self.always:
            return True
        local = at.astimezone(tz)
        now = local.time().replace(tzinfo=None)
        today = local.weekday()
        yesterday = (today - 1) % 7
        for w in self.windows:
            overnight = w.end <= w.start
            if w.weekday == today and (w.start <= now < w.end or (overnight and now >= w.start)):
                return True
            if overnight and w.weekday == yesterday and now < w.end:
                return True
        return False

    def _closure(self, local: datetime) -> Closure | None:
        return next((c for c in self.closures if c.start <= local < c.end), None)

    def _holiday(self, day: date) -> Holiday | None:
        return next((h for h in self.holidays if h.day == day), None)


@dataclass(frozen=True)
class Center:
    """A 988 center (or the national backup line, or a specialty line).

    Attributes:
        id: stable identifier used everywhere else in the tables.
        name: what a call-taker hears and reads.
        number: E.164 number the gateway dials.
        timezone: IANA time zone its hours are written in.
        hours: when it answers.
        languages: ISO 639-1 codes its counselors speak.
        ring_timeout_s: how long to ring before rolling over (about four rings by default).
        backups: ordered ids of the centers to try next; the last is the national backup line.
    """

    id: str
    name: str
    number: str
    timezone: str
    hours: Hours
    languages: tuple[str, ...] = ("en",)
    ring_timeout_s: int = 24
    backups: tuple[str, ...] = ()

    def is_open(self, at: datetime) -> bool:
        return self.hours.is_open(at, ZoneInfo(self.timezone))

    def closed_because(self, at: datetime) -> str:
        return self.hours.closed_because(at, ZoneInfo(self.timezone))


@dataclass(frozen=True)
class Overlay:
    """A custom service area that takes priority over counties (a Tribal nation, a city).

    Where overlays overlap, the higher `priority` wins, then the lower id.
    """

    id: str
    name: str
    center_id: str
    geometry: BaseGeometry
    priority: int = 0


@dataclass(frozen=True)
class Psap:
    """A 911 public safety answering point that may transfer callers to 988.

    Attributes:
        numbers: the E.164 numbers its transfers arrive from.
        escalation_number: where a bounce-back from 988 rings first.
        alternates: tried in order when the escalation line does not answer.
        service_area: county FIPS codes it serves (the fallback when the location is unknown).
    """

    id: str
    name: str
    numbers: tuple[str, ...]
    escalation_number: str
    alternates: tuple[str, ...]
    service_area: tuple[str, ...]
    timezone: str = "America/Chicago"


class LocationPrecision(StrEnum):
    """How precisely a center is told where the caller is: EXACT (the position or street
    address the PSAP gave), COUNTY (only the county and state) or NONE."""

    EXACT = "exact"
    COUNTY = "county"
    NONE = "none"


@dataclass(frozen=True)
class CenterShare:
    """Which of the caller's personal details a partnership's center receives in its EIDO
    documents. The defaults share the least: no callback number, no summary, the county."""

    callback_number: bool = False
    summary: bool = False
    location: LocationPrecision = LocationPrecision.COUNTY


@dataclass(frozen=True)
class Partnership:
    """The decision matrix between one PSAP and one center: call type -> allowed risk levels;
    and what of the caller's details the center receives (`shares`)."""

    psap_id: str
    center_id: str
    call_types: Mapping[str, frozenset[Risk]]
    shares: CenterShare = CenterShare()

    def allows(self, call_type: str, risk: Risk) -> bool:
        return risk in TRANSFERABLE_RISKS and risk in self.call_types.get(call_type, frozenset())


@dataclass(frozen=True)
class RoutingTables:
    """One complete, validated set of routing tables.

    Attributes:
        centers: every dialable center by id, specialty lines and the national line included.
        national_backup: id of the line every backup chain ends at.
        county_centers: county FIPS -> the center that serves it (priorities already resolved).
        configured_states: USPS codes of the states whose every county must be covered.
        overlays: custom service areas, highest priority first.
        area_codes: NPA ("816") -> center id, what today's area-code routing does.
        state_centers: USPS state code -> center id, area-code routing for unlisted NPAs.
        language_lines: ISO 639-1 code -> center id of a specialty line ("es").
        veterans_line: center id of the Veterans Crisis Line, if configured.
        psaps: PSAPs by id.
        partnerships: decision matrices by (psap id, center id).
        version: a digest of the source files, to tell table sets apart in logs.
        source: where the tables were loaded from.
    """

    centers: Mapping[str, Center]
    national_backup: str
    county_centers: Mapping[str, str]
    configured_states: frozenset[str]
    overlays: tuple[Overlay, ...]
    area_codes: Mapping[str, str]
    state_centers: Mapping[str, str]
    language_lines: Mapping[str, str]
    veterans_line: str | None
    psaps: Mapping[str, Psap]
    partnerships: Mapping[tuple[str, str], Partnership]
    version: str
    source: str
