"""An analyst reads /reports in a real browser (Debian's Chromium, tests/browser.py).

The whole gateway app (tests/ops/apps.py: real Redis, the store on the real PostgreSQL
server) is served on a loopback port over fictional transfers seeded across four weeks of
March 2026. `SCREENSHOTS_DIR=docs/img` refreshes the screenshots in docs/reports.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from gateway.domain.events import Event
from gateway.web import reports_api
from routing.counties import CountyLayer
from routing.engine import Router, Snapshot
from routing.index import CountyIndex
from routing.tables import DEFAULT_TABLES_DIR, load_tables
from tests.browser import served, shoot
from tests.ops.apps import ANALYST_KEY, ops_app
from tests.store import factories as f
from tests.store.databases import empty_store, save_events

DAY, HOUR = 86_400, 3_600
CHARTS = ("weekly", "outcomes", "answer", "accept", "rollovers", "escalations", "hours")
MARCH = ("2026-03-02", "2026-03-29")  # four whole weeks, Monday to Sunday
EMPTY = ("2026-02-02", "2026-02-22")  # three weeks before any transfer

Builder = Callable[[str, float], list[Event]]
# What happened, how to play it (factories.py) and the outcome as the page words it.
KINDS: dict[str, tuple[Builder, str]] = {
    "first": (lambda t, s: f.connected_first_choice(t, start=s), "Connected, first center"),
    "rollover": (lambda t, s: f.connected_after_rollover(t, start=s), "Connected after rollover"),
    "whisper": (lambda t, s: f.whisper_declined(t, start=s), "Connected after rollover"),
    "escalated": (lambda t, s: f.escalated(t, True, start=s), "Connected, first center"),
    "to911": (lambda t, s: f.returned_to_911(t, start=s), "Returned to 911"),
    "declined": (lambda t, s: f.declined_at_triage(t, start=s), "Declined at triage"),
    "hung_up": (lambda t, s: f.caller_hung_up_while_ringing(t, start=s), "Caller hung up"),
}
CONNECTED = {"first", "rollover", "whisper", "escalated"}

# (day after Monday 2 March, hour UTC, what happened, county routed on or None)
PLAN = [
    (0, 14, "first", "20045"),
    (0, 16, "rollover", "20209"),
    (1, 2, "first", "20177"),  # 02:00 UTC on Tuesday: Monday evening in Kansas
    (2, 15, "declined", None),
    (3, 19, "escalated", "20045"),
    (7, 3, "first", "20045"),  # Monday 9 March in UTC, Sunday 8 March in Kansas
    (8, 17, "to911", "20209"),
    (9, 3, "hung_up", "20045"),
    (9, 20, "whisper", "20177"),
    (10, 14, "first", "20209"),
    (11, 22, "rollover", "20045"),
    (13, 18, "first", "20045"),
    (14, 15, "first", "20177"),
    (16, 16, "declined", None),
    (17, 21, "escalated", "20209"),
    (21, 14, "first", "20045"),
    (22, 15, "rollover", "20045"),
    (23, 1, "to911", "20177"),
    (24, 19, "first", "20209"),
    (25, 17, "whisper", "20045"),
    (26, 20, "hung_up", "20209"),
    (27, 23, "first", "20045"),
]
DRILL_DAY = 10  # one drill, in the second week


def start_of(day: int, hour: int) -> float:
    """Seconds from factories.T0 (Monday 2 March 2026, 14:00 UTC)."""
    return day * DAY + (hour - 14) * HOUR


def seeded_events() -> list[Event]:
    events = []
    for n, (day, hour, kind, county) in enumerate(PLAN):
        played = KINDS[kind][0](f"tr_browser_{n}", start_of(day, hour))
        events += f.in_county(played, county) if county else played
    return [*events, *f.as_drill(f.returned_to_911("tr_drill", start=DAY * DRILL_DAY))]


def local(day: int, hour: int, zone: str) -> tuple[date, int]:
    at = (f.T0 + timedelta(seconds=start_of(day, hour))).astimezone(ZoneInfo(zone))
    return at.date(), at.hour


def expected_weeks(zone: str) -> list[list[str]]:
    """The weekly figures table: week, requested, transferred, connected."""
    mondays = [date(2026, 3, 2) + timedelta(weeks=w) for w in range(4)]
    rows = {m: [m.isoformat(), 0, 0, 0] for m in mondays}
    for day, hour, kind, _ in PLAN:
        when, _ = local(day, hour, zone)
        row = rows[when - timedelta(days=when.weekday())]
        row[1] = int(row[1]) + 1
        row[2] = int(row[2]) + (kind != "declined")
        row[3] = int(row[3]) + (kind in CONNECTED)
    return [[str(cell) for cell in row] for row in rows.values()]


def expected_hours(zone: str) -> list[list[str]]:
    """The hour-of-day figures table: hour, requested, connected."""
    requested, connected = Counter[int](), Counter[int]()
    for day, hour, kind, _ in PLAN:
        _, at = local(day, hour, zone)
        requested[at] += 1
        connected[at] += kind in CONNECTED
    return [[f"{h:02d}:00", str(requested[h]), str(connected[h])] for h in range(24)]


@pytest.fixture
def reports_url(
    postgres_store_url: str,
    redis_url: str,
    county_layer: CountyLayer,
    county_index: CountyIndex,
) -> Iterator[str]:
    """The gateway app on 127.0.0.1 over a store of the seeded transfers."""
    engine = empty_store(postgres_store_url)
    save_events(engine, seeded_events())
    engine.dispose()
    tables = load_tables(DEFAULT_TABLES_DIR, county_layer)
    app, _ = ops_app(Router(Snapshot(county_layer, county_index, tables)), redis_url,
                     postgres_store_url)  # fmt: skip
    try:
        with served(app) as base:
            yield f"{base}/reports"
    finally:
        app.extensions[reports_api.EXTENSION].engine.dispose()


def rows(where: Locator) -> list[list[str]]:
    """The cells of a table's body, row by row."""
    script = "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
    result: list[list[str]] = where.locator("tbody tr").evaluate_all(script)
    return result


def breakdown(page: Page, caption: str) -> Locator:
    return page.locator("section.card", has=page.locator("caption", has_text=caption))


def total(page: Page, name: str) -> Locator:
    return page.locator(".totals div", has=page.get_by_text(name, exact=True)).locator("dd")


def show(page: Page, period: tuple[str, str]) -> None:
    page.get_by_label("From", exact=True).fill(period[0])
    page.get_by_label("To", exact=True).fill(period[1])
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#period")).to_contain_text(f"{period[0]} to {period[1]}")


def every_chart_has_axes(page: Page) -> None:
    for key in CHARTS:
        chart = page.locator(f"#chart-{key} svg")
        expect(chart).to_be_visible()
        expect(chart.locator("line.axis")).to_have_count(2)


def test_an_analyst_signs_in_reads_the_charts_changes_zone_and_drills_and_signs_out(
    browser: Browser, reports_url: str, shots: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(reports_url)
    expect(page.locator("svg")).to_have_count(0)
    shoot(page, shots, "reports-sign-in", full_page=False)
    page.get_by_label("Analyst key").fill(ANALYST_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    show(page, EMPTY)
    every_chart_has_axes(page)
    expect(page.locator("svg text.empty")).to_have_count(len(CHARTS))
    expect(page.locator("svg text.empty").first).to_have_text("No transfers in this period")
    expect(total(page, "Requested")).to_have_text("0")
    shoot(page, shots, "reports-empty", full_page=False)

    show(page, MARCH)
    expect(page.locator("#period")).to_contain_text("times in America/Chicago")
    every_chart_has_axes(page)
    expect(page.locator("svg text.empty")).to_have_count(0)
    expect(total(page, "Requested")).to_have_text(str(len(PLAN)))
    weeks = expected_weeks("America/Chicago")
    bars = page.locator("#chart-weekly svg rect title")
    expect(bars).to_have_text([f"{w[0][5:]}: {w[1]}" for w in weeks])
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways at 1280x800: {width}"
    expect(page.locator("#chart-weekly")).to_be_in_viewport(ratio=1)
    shoot(page, shots, "reports-charts", full_page=False)

    page.locator("#chart-weekly summary").click()
    expect(page.locator("#chart-weekly table")).to_be_visible()
    assert rows(page.locator("#chart-weekly")) == weeks
    outcomes = Counter(KINDS[kind][1] for _, _, kind, _ in PLAN)
    shown = {row[0]: int(row[1]) for row in rows(page.locator("#chart-outcomes"))}
    assert shown == {word: outcomes[word] for word in shown} and sum(shown.values()) == len(PLAN)
    assert rows(page.locator("#chart-hours")) == expected_hours("America/Chicago")
    counties = Counter(county or "not routed" for _, _, _, county in PLAN)
    by_county = {row[0]: int(row[1]) for row in rows(breakdown(page, "By county"))}
    assert by_county == counties
    reasons = rows(breakdown(page, "Decline and rollover reasons"))
    assert ["declined at triage", "risk too high", "2"] in reasons
    assert ["counselor declined", "key-2", "2"] in reasons
    page.get_by_role("heading", name="Breakdowns").scroll_into_view_if_needed()
    shoot(page, shots, "reports-breakdowns", full_page=False)

    page.get_by_role("combobox", name="Time zone").select_option("UTC")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#period")).to_contain_text("times in UTC")
    assert rows(page.locator("#chart-weekly")) == expected_weeks("UTC")
    assert rows(page.locator("#chart-hours")) == expected_hours("UTC")

    expect(page.locator("#period")).to_contain_text("Drills and demos are left out.")
    page.get_by_label("Include drills and demos").check()
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#period")).to_contain_text("Drills and demos are included.")
    expect(total(page, "Requested")).to_have_text(str(len(PLAN) + 1))
    to_911 = {r[0]: r[1] for r in rows(page.locator("#chart-outcomes"))}["Returned to 911"]
    assert int(to_911) == outcomes["Returned to 911"] + 1

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Analyst key")).to_be_visible()
    page.goto(reports_url)
    expect(page.get_by_label("Analyst key")).to_be_visible()
    expect(page.locator("svg")).to_have_count(0)
    page.close()
