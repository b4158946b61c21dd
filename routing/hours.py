"""Opening hours of a 988 center, read from what an administrator writes.

Two forms, both meant in the center's own time zone:

* ``24/7``
* a weekly schedule, one clause per group of days: ``mon-fri 08:00-20:00; sat 10:00-16:00``.
  In the YAML tables the same schedule is written as a mapping, one line per group of days
  (``mon-fri: "08:00-20:00"``); `parse_hours` accepts both.

Days are ``mon`` ... ``sun`` (or full names), ranges of days (``mon-fri``, ``fri-mon``), lists
(``sat, sun``) or ``daily``. A day may have several windows (``08:00-12:00, 13:00-17:00``).
A window whose end is at or before its start runs past midnight: ``fri 22:00-06:00`` is open
from Friday 22:00 to Saturday 06:00. ``24:00`` may end a window (``00:00-24:00`` is a whole day).

Beside the weekly hours a center may list holidays (a date with hours of its own, or closed)
and temporary closures (from a local date and time until another); see `parse_holidays`
and `parse_closures`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time

from routing.errors import RoutingError
from routing.model import Closure, Holiday, Hours, Window

ALWAYS = "24/7"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# [0-9] rather than \d: \d also matches other scripts' digits, which int() would then accept.
_CLAUSE = re.compile(r"([^0-9]*)([0-9].*)", re.DOTALL)
_RANGE = re.compile(r"\s*([0-9]{1,2}:[0-9]{2})\s*[-–]\s*([0-9]{1,2}:[0-9]{2})\s*")
_EXAMPLE = 'write "24/7" or days and times such as mon-fri: "08:00-20:00"'


class HoursError(RoutingError):
    """Hours that cannot be understood; the message says what is wrong and how to write it."""


def parse_hours(spec: object) -> Hours:
    """Parse opening hours written as text or as a YAML mapping.

    Args:
        spec: ``"24/7"``, a text schedule (``"mon-fri 08:00-20:00; sat 10:00-16:00"``) or a
            mapping of days to time ranges (``{"mon-fri": "08:00-20:00"}``; a value may also
            be a list of ranges).

    Returns:
        The hours, with `Hours.text` a one-line rendering for people to read.

    Raises:
        HoursError: the hours do not parse; the message names the offending part.
    """
    if isinstance(spec, str):
        return _parse_text(spec)
    if isinstance(spec, Mapping):
        return _parse_mapping(spec)
    raise HoursError(f"hours must be text or a list of days and times: {_EXAMPLE}")


def _parse_text(text: str) -> Hours:
    if text.strip().lower() == ALWAYS:
        return Hours(always=True, text=ALWAYS)
    clauses = [c.strip() for c in re.split(r"[;\n]", text) if c.strip()]
    if not clauses:
        raise HoursError(f"no opening hours given: {_EXAMPLE}")
    pairs = [_split_clause(c) for c in clauses]
    return _hours(pairs)


def _split_clause(clause: str) -> tuple[str, list[str]]:
    """Split "mon-fri 08:00-12:00, 13:00-17:00" into its days and its time ranges."""
    match = _CLAUSE.fullmatch(clause)
    if match is None:
        raise HoursError(f"'{clause}' has no times: {_EXAMPLE}")
    days = match.group(1).strip().rstrip(":").strip()
    return days, match.group(2).split(",")


def _parse_mapping(spec: Mapping[object, object]) -> Hours:
    if not spec:
        raise HoursError(f"no opening hours given: {_EXAMPLE}")
    pairs = []
    for days, ranges in spec.items():
        if not isinstance(days, str):
            raise HoursError(f"'{days}' is not a day or range of days such as mon-fri")
        pairs.append((days, _range_texts(days, ranges)))
    return _hours(pairs)


def _range_texts(days: str, ranges: object) -> list[str]:
    # YAML reads an unquoted 10:00 as the number 600 (base 60), hence the hint about quotes.
    if isinstance(ranges, str):
        return ranges.split(",")
    if isinstance(ranges, list) and ranges and all(isinstance(r, str) for r in ranges):
        return list(ranges)
    raise HoursError(f"hours for '{days}' must be time ranges in quotes, such as \"08:00-20:00\"")


def _hours(pairs: Iterable[tuple[str, list[str]]]) -> Hours:
    windows: set[Window] = set()
    clauses = []
    for days, ranges in pairs:
        weekdays = _days(days)
        spans = [_span(r) for r in ranges]
        windows.update(Window(d, start, end) for d in weekdays for start, end in spans)
        clauses.append(f"{days} {', '.join(r.strip() for r in ranges)}")
    ordered = tuple(sorted(windows, key=lambda w: (w.weekday, w.start, w.end)))
    return Hours(always=False, windows=ordered, text="; ".join(clauses))


def _days(text: str) -> list[int]:
    """Weekday numbers (0 = Monday) named by "mon-fri", "sat, sun", "fri-mon" or "daily"."""
    if not text:
        raise HoursError(f"times without days: {_EXAMPLE}")
    days: list[int] = []
    for token in (t.strip() for t in text.split(",")):
        if token.lower() == "daily":
            days.extend(range(7))
        elif re.search(r"[-–]", token):
            first, _, last = re.split(r"\s*([-–])\s*", token, maxsplit=1)
            days.extend(_day_range(_day(first), _day(last)))
        else:
            days.append(_day(token))
    return days


def _day_range(first: int, last: int) -> list[int]:
    # A range may wrap over the weekend: "fri-mon" is Friday, Saturday, Sunday, Monday.
    if last >= first:
        return list(range(first, last + 1))
    return list(range(first, 7)) + list(range(last + 1))


def _day(name: str) -> int:
    key = name.strip().lower()
    if key in DAY_NAMES:
        return DAY_NAMES.index(key)
    if key in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(key)
    raise HoursError(f"unknown day '{name.strip()}' (use {', '.join(DAY_NAMES)} or daily)")


def _span(text: str) -> tuple[time, time]:
    match = _RANGE.fullmatch(text)
    if match is None:
        raise HoursError(f"'{text.strip()}' is not a time range such as 08:00-20:00")
    first, last = match.groups()
    start, end = _time(first, may_be_midnight_end=False), _time(last, may_be_midnight_end=True)
    # Equal ends would mean "24 hours from the start"; only 00:00-24:00 says so unmistakably.
    if start == end and last != "24:00":
        raise HoursError(
            f"'{text.strip()}' starts and ends at the same time (a whole day is 00:00-24:00)"
        )
    return start, end


def _time(text: str, *, may_be_midnight_end: bool) -> time:
    hour, minute = (int(part) for part in text.split(":"))
    if may_be_midnight_end and (hour, minute) == (24, 0):
        return time(0, 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        allowed = "00:00 to 24:00" if may_be_midnight_end else "00:00 to 23:59"
        raise HoursError(f"'{text}' is not a time of day ({allowed})")
    return time(hour, minute)


# -- holidays and temporary closures ---------------------------------------------------------

CLOSED = "closed"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}")
_HOLIDAY_EXAMPLE = '{date: "2026-12-25", name: Christmas Day, hours: closed}'
_CLOSURE_EXAMPLE = '{from: "2026-12-01 08:00", until: "2026-12-01 12:00", reason: new phones}'


def parse_holidays(spec: object) -> tuple[Holiday, ...]:
    """Parse a list of holidays, each a date, a name and its hours ("closed" or time ranges).

    Raises:
        HoursError: naming the holiday (by its position or date) and what is wrong.
    """
    items = _entries(spec, _HOLIDAY_EXAMPLE)
    holidays = [_holiday(item, n) for n, item in enumerate(items, 1)]
    days = [h.day for h in holidays]
    twice = sorted({d for d in days if days.count(d) > 1})
    if twice:
        raise HoursError(f"{twice[0]} is listed more than once")
    return tuple(sorted(holidays, key=lambda h: h.day))


def parse_closures(spec: object) -> tuple[Closure, ...]:
    """Parse a list of temporary closures, each from and until a local date and time.

    Raises:
        HoursError: naming the closure (by its position) and what is wrong.
    """
    items = _entries(spec, _CLOSURE_EXAMPLE)
    return tuple(_closure(item, n) for n, item in enumerate(items, 1))


def _entries(spec: object, example: str) -> list[Mapping[object, object]]:
    if not isinstance(spec, list) or not all(isinstance(i, Mapping) for i in spec):
        raise HoursError(f"must be a list of entries such as - {example}")
    return spec


def _fields(item: Mapping[object, object], where: str, keys: tuple[str, ...]) -> list[object]:
    unknown = [str(k) for k in item if k not in keys]
    if unknown:
        raise HoursError(f"{where}: unknown key '{unknown[0]}' (use {', '.join(keys)})")
    missing = [k for k in keys if item.get(k) is None]
    if missing:
        raise HoursError(f"{where}: missing '{missing[0]}'")
    return [item[k] for k in keys]


def _holiday(item: Mapping[object, object], n: int) -> Holiday:
    where = f"#{n}"
    day_value, name, hours = _fields(item, where, ("date", "name", "hours"))
    day = _date(day_value, where)
    where = str(day)
    if not isinstance(name, str) or not name.strip():
        raise HoursError(f"{where}: name must be text, such as Christmas Day")
    if isinstance(hours, str) and hours.strip().lower() == CLOSED:
        return Holiday(day, name.strip())
    if not isinstance(hours, str):
        raise HoursError(f'{where}: hours must be "closed" or time ranges such as "10:00-14:00"')
    spans = []
    for text in hours.split(","):
        try:
            start, end = _span(text)
        except HoursError as exc:
            raise HoursError(f"{where}: {exc}") from None
        if end != time(0) and end <= start:
            raise HoursError(f"{where}: '{text.strip()}' must end on the same day (by 24:00)")
        spans.append((start, end))
    return Holiday(day, name.strip(), tuple(spans))


def _closure(item: Mapping[object, object], n: int) -> Closure:
    where = f"#{n}"
    start_value, end_value, reason = _fields(item, where, ("from", "until", "reason"))
    start, end = _local_time(start_value, where, "from"), _local_time(end_value, where, "until")
    if end <= start:
        raise HoursError(f"{where}: 'until' ({end:%Y-%m-%d %H:%M}) must come after 'from'")
    if not isinstance(reason, str) or not reason.strip():
        raise HoursError(f"{where}: reason must be text, such as phone system upgrade")
    return Closure(start, end, reason.strip())


def _date(value: object, where: str) -> date:
    # YAML reads an unquoted 2026-12-25 as a date already.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise HoursError(f'{where}: date must be a day such as "2026-12-25", got {value!r}')


def _local_time(value: object, where: str, key: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str) and _LOCAL_TIME.fullmatch(value.strip()):
        try:
            return datetime.fromisoformat(value.strip().replace(" ", "T"))
        except ValueError:
            pass
    raise HoursError(
        f'{where}: {key} must be a local date and time such as "2026-12-01 08:00", got {value!r}'
    )
