"""Opening hours: parsing what administrators write, and judging "open now" in local time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.hours import HoursError, parse_closures, parse_holidays, parse_hours
from routing.model import Hours, Window

CHICAGO = ZoneInfo("America/Chicago")
NEW_YORK = ZoneInfo("America/New_York")


def chicago(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO)


# 2024-03-04 is a Monday; 2024-03-08 a Friday.
MONDAY, FRIDAY, SATURDAY, SUNDAY = 4, 8, 9, 10


def test_24_7_is_always_open() -> None:
    hours = parse_hours("24/7")

    assert hours == Hours(always=True, text="24/7")
    assert hours.is_open(chicago(2024, 3, SUNDAY, 3), CHICAGO)


def test_weekday_window_is_open_inside_and_closed_outside() -> None:
    hours = parse_hours({"mon-fri": "08:00-20:00"})

    assert hours.is_open(chicago(2024, 3, MONDAY, 8), CHICAGO)
    assert hours.is_open(chicago(2024, 3, FRIDAY, 19, 59), CHICAGO)
    assert not hours.is_open(chicago(2024, 3, MONDAY, 7, 59), CHICAGO)
    assert not hours.is_open(chicago(2024, 3, FRIDAY, 20), CHICAGO)  # the end is exclusive
    assert not hours.is_open(chicago(2024, 3, SATURDAY, 12), CHICAGO)


def test_overnight_window_runs_into_the_next_morning() -> None:
    hours = parse_hours({"fri": "22:00-06:00"})

    assert hours.is_open(chicago(2024, 3, FRIDAY, 23), CHICAGO)
    assert hours.is_open(chicago(2024, 3, SATURDAY, 5, 59), CHICAGO)
    assert not hours.is_open(chicago(2024, 3, SATURDAY, 6), CHICAGO)
    assert not hours.is_open(chicago(2024, 3, FRIDAY, 5), CHICAGO)  # Thursday night was not open
    assert not hours.is_open(chicago(2024, 3, SATURDAY, 23), CHICAGO)


def test_sunday_overnight_window_wraps_into_monday() -> None:
    hours = parse_hours("sun 22:00-06:00")

    assert hours.is_open(chicago(2024, 3, 11, 3), CHICAGO)  # Monday 03:00


def test_hours_follow_daylight_saving_time() -> None:
    hours = parse_hours({"mon-fri": "08:00-20:00"})
    # The same 13:30 UTC is 07:30 CST on Friday 8 March and 08:30 CDT on Monday 11 March.
    before_change = datetime(2024, 3, 8, 13, 30, tzinfo=UTC)
    after_change = datetime(2024, 3, 11, 13, 30, tzinfo=UTC)

    assert not hours.is_open(before_change, CHICAGO)
    assert hours.is_open(after_change, CHICAGO)


def test_overnight_window_covers_both_one_oclocks_when_clocks_fall_back() -> None:
    hours = parse_hours("sat 22:00-06:00")
    # 3 November 2024: 01:30 happens twice in Chicago (CDT, then CST); 06:30 CST ends it.
    first_one_thirty = datetime(2024, 11, 3, 6, 30, tzinfo=UTC)
    second_one_thirty = datetime(2024, 11, 3, 7, 30, tzinfo=UTC)
    half_past_six = datetime(2024, 11, 3, 12, 30, tzinfo=UTC)

    assert hours.is_open(first_one_thirty, CHICAGO)
    assert hours.is_open(second_one_thirty, CHICAGO)
    assert not hours.is_open(half_past_six, CHICAGO)


def test_hours_are_judged_in_the_centers_time_zone_not_the_callers() -> None:
    hours = parse_hours("mon-fri 08:00-17:00")
    # 09:30 in New York is 08:30 in Chicago; 08:30 in Chicago is 07:30 in Denver.
    caller_clock = datetime(2024, 3, MONDAY, 9, 30, tzinfo=NEW_YORK)

    assert hours.is_open(caller_clock, CHICAGO)
    assert not hours.is_open(caller_clock, ZoneInfo("America/Denver"))


def test_mapping_and_text_forms_give_the_same_windows() -> None:
    from_mapping = parse_hours({"mon-fri": "08:00-20:00", "sat": ["10:00-12:00", "13:00-16:00"]})
    from_text = parse_hours("mon-fri 08:00-20:00; sat 10:00-12:00, 13:00-16:00")

    assert from_mapping.windows == from_text.windows
    assert from_mapping.text == "mon-fri 08:00-20:00; sat 10:00-12:00, 13:00-16:00"
    assert len(from_text.windows) == 7


def test_days_can_be_listed_wrapped_over_the_weekend_or_daily() -> None:
    assert _weekdays("sat, sun 10:00-16:00") == [5, 6]
    assert _weekdays("fri-mon 10:00-16:00") == [0, 4, 5, 6]
    assert _weekdays("daily 10:00-16:00") == list(range(7))
    assert _weekdays("Monday-Wednesday 9:00 – 17:00") == [0, 1, 2]


def test_24_00_ends_a_window_at_midnight() -> None:
    whole_day = parse_hours("sun 00:00-24:00")
    evening = parse_hours("sat 18:00-24:00")

    assert whole_day.windows == (Window(6, time(0), time(0)),)
    assert whole_day.is_open(chicago(2024, 3, SUNDAY, 23, 59), CHICAGO)
    assert not whole_day.is_open(chicago(2024, 3, 11, 0), CHICAGO)
    assert evening.is_open(chicago(2024, 3, SATURDAY, 23, 59), CHICAGO)
    assert not evening.is_open(chicago(2024, 3, SUNDAY, 0, 1), CHICAGO)


def test_overlapping_windows_are_merged_without_duplicates() -> None:
    hours = parse_hours({"mon-fri": "08:00-17:00", "mon": "08:00-17:00"})

    assert len(hours.windows) == 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("mon-fri 8am-5pm", "'8am-5pm' is not a time range such as 08:00-20:00"),
        (
            "mon-fry 08:00-17:00",
            "unknown day 'fry' (use mon, tue, wed, thu, fri, sat, sun or daily)",
        ),
        ("mon 25:00-26:00", "'25:00' is not a time of day (00:00 to 23:59)"),
        ("mon 08:00-24:30", "'24:30' is not a time of day (00:00 to 24:00)"),
        ("mon 24:00-05:00", "'24:00' is not a time of day (00:00 to 23:59)"),
        (
            "mon 08:00-08:00",
            "'08:00-08:00' starts and ends at the same time (a whole day is 00:00-24:00)",
        ),
        (
            "08:00-17:00",
            'times without days: write "24/7" or days and times such as mon-fri: "08:00-20:00"',
        ),
        (
            "mon-fri",
            "'mon-fri' has no times: write \"24/7\" or days and times such as "
            'mon-fri: "08:00-20:00"',
        ),
        (
            "  ",
            'no opening hours given: write "24/7" or days and times such as mon-fri: "08:00-20:00"',
        ),
        (
            {},
            'no opening hours given: write "24/7" or days and times such as mon-fri: "08:00-20:00"',
        ),
        # YAML reads an unquoted sat: 10:00 as 600 (base 60).
        ({"sat": 600}, "hours for 'sat' must be time ranges in quotes, such as \"08:00-20:00\""),
        ({1: "08:00-17:00"}, "'1' is not a day or range of days such as mon-fri"),
        (
            24,
            "hours must be text or a list of days and times: "
            'write "24/7" or days and times such as mon-fri: "08:00-20:00"',
        ),
    ],
)
def test_hours_that_do_not_parse_say_why(spec: object, message: str) -> None:
    with pytest.raises(HoursError) as info:
        parse_hours(spec)

    assert str(info.value) == message


_minutes = st.integers(min_value=0, max_value=24 * 60 - 1)
# Bounded so converting to Chicago time never leaves datetime's range (years 1 to 9999).
_instants = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(start=_minutes, end=_minutes, at=_instants)
def test_a_daily_window_and_its_complement_are_never_open_together(
    start: int, end: int, at: datetime
) -> None:
    if start == end:
        return
    window = f"daily {start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
    complement = f"daily {end // 60:02d}:{end % 60:02d}-{start // 60:02d}:{start % 60:02d}"

    open_now = [parse_hours(text).is_open(at, CHICAGO) for text in (window, complement)]

    assert open_now.count(True) == 1


@given(st.text())
def test_any_text_either_parses_or_raises_hours_error(text: str) -> None:
    try:
        hours = parse_hours(text)
    except HoursError:
        return
    assert hours.always or hours.windows


def _weekdays(text: str) -> list[int]:
    return sorted({w.weekday for w in parse_hours(text).windows})


# -- holidays and temporary closures -----------------------------------------------------------


def with_exceptions(weekly: object, holidays: object = None, closures: object = None) -> Hours:
    hours = parse_hours(weekly)
    return Hours(
        hours.always,
        hours.windows,
        hours.text,
        parse_holidays(holidays) if holidays is not None else (),
        parse_closures(closures) if closures is not None else (),
    )


def test_a_holiday_marked_closed_closes_a_24_7_center_for_that_whole_day() -> None:
    hours = with_exceptions(
        "24/7", [{"date": "2024-03-08", "name": "Staff day", "hours": "closed"}]
    )

    assert not hours.is_open(chicago(2024, 3, FRIDAY, 0), CHICAGO)
    assert not hours.is_open(chicago(2024, 3, FRIDAY, 23, 59), CHICAGO)
    assert hours.is_open(chicago(2024, 3, SATURDAY, 0), CHICAGO)
    assert hours.closed_because(chicago(2024, 3, FRIDAY, 12), CHICAGO) == "closed for Staff day"


def test_holiday_hours_replace_the_weekly_hours_on_their_date_only() -> None:
    holiday = {"date": date(2024, 3, 4), "name": "Short day", "hours": "10:00-14:00"}
    hours = with_exceptions({"mon-fri": "08:00-20:00"}, [holiday])

    assert not hours.is_open(chicago(2024, 3, MONDAY, 9), CHICAGO)
    assert hours.is_open(chicago(2024, 3, MONDAY, 10), CHICAGO)
    assert not hours.is_open(chicago(2024, 3, MONDAY, 14), CHICAGO)
    assert hours.is_open(chicago(2024, 3, 5, 9), CHICAGO)  # Tuesday keeps its weekly hours


def test_holiday_hours_may_run_to_midnight_but_not_past_it() -> None:
    late = with_exceptions("24/7", [{"date": "2024-03-04", "name": "Eve", "hours": "18:00-24:00"}])
    assert late.is_open(chicago(2024, 3, MONDAY, 23, 59), CHICAGO)

    with pytest.raises(HoursError, match="must end on the same day"):
        parse_holidays([{"date": "2024-03-04", "name": "Eve", "hours": "18:00-02:00"}])


def test_a_temporary_closure_closes_the_center_from_its_start_until_its_end() -> None:
    closure = {"from": "2024-03-04 08:00", "until": "2024-03-04 12:00", "reason": "new phones"}
    hours = with_exceptions("24/7", closures=[closure])

    assert hours.is_open(chicago(2024, 3, MONDAY, 7, 59), CHICAGO)
    assert not hours.is_open(chicago(2024, 3, MONDAY, 8), CHICAGO)
    assert hours.is_open(chicago(2024, 3, MONDAY, 12), CHICAGO)
    assert hours.closed_because(chicago(2024, 3, MONDAY, 9), CHICAGO) == (
        "closed until 2024-03-04 12:00: new phones"
    )


def test_closures_are_judged_in_the_centers_own_time_zone() -> None:
    closure = {"from": "2024-03-04 08:00", "until": "2024-03-04 09:00", "reason": "drill"}
    hours = with_exceptions("24/7", closures=[closure])

    # 08:30 in New York is 07:30 in Chicago: the Chicago center is still open.
    assert hours.is_open(datetime(2024, 3, 4, 8, 30, tzinfo=NEW_YORK), CHICAGO)
    assert not hours.is_open(datetime(2024, 3, 4, 9, 30, tzinfo=NEW_YORK), CHICAGO)


@pytest.mark.parametrize(
    ("holidays", "message"),
    [
        ("2024-12-25", "must be a list of entries"),
        ([{"date": "25/12/2024", "name": "X", "hours": "closed"}], "date must be a day such as"),
        ([{"date": "2024-02-30", "name": "X", "hours": "closed"}], "date must be a day such as"),
        ([{"date": "2024-12-25", "hours": "closed"}], "#1: missing 'name'"),
        ([{"date": "2024-12-25", "name": "X", "hours": "shut"}], "is not a time range"),
        ([{"date": "2024-12-25", "name": "X", "hours": 600}], 'must be "closed" or time ranges'),
        ([{"date": "2024-12-25", "name": "X", "hours": "closed", "note": 1}], "unknown key 'note'"),
        (
            [{"date": "2024-12-25", "name": "X", "hours": "closed"}] * 2,
            "^2024-12-25 is listed more than once",
        ),
    ],
)
def test_a_mistaken_holiday_is_explained(holidays: object, message: str) -> None:
    with pytest.raises(HoursError, match=message):
        parse_holidays(holidays)


@pytest.mark.parametrize(
    ("closure", "message"),
    [
        ({"from": "2024-03-04", "until": "2024-03-05 08:00", "reason": "x"}, "from must be a"),
        ({"from": "2024-03-04 08:00", "until": "2024-03-04 08:00", "reason": "x"}, "after 'from'"),
        ({"from": "2024-03-04 08:00", "until": "2024-03-04 09:00", "reason": " "}, "reason must"),
    ],
)
def test_a_mistaken_closure_is_explained(closure: dict[str, str], message: str) -> None:
    with pytest.raises(HoursError, match=message):
        parse_closures([closure])
