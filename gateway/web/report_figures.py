"""What the analysts' page shows, built from the store's reports: charts and tables.

Weekly and hour-of-day figures are summed, in the report's time zone, from the store's
counts per UTC hour (gateway.adapters.store.reports.hourly), so a week starts on Monday at
midnight where the partnership is, and "14:00" is 2 pm there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.orm import Session

from gateway.adapters.store import reports
from gateway.adapters.store.models import Transfer
from gateway.adapters.store.reports import Bin, HourRow, Period, SummaryRow
from gateway.web.charts import Chart, render

OUTCOME_WORDS = {
    "in_progress": "In progress",
    "declined_at_triage": "Declined at triage",
    "connected_first_choice": "Connected, first center",
    "connected_after_rollover": "Connected after rollover",
    "returned_to_911": "Returned to 911",
    "caller_disconnected": "Caller hung up",
    "ended_unconnected": "Ended unconnected",
    "unknown": "Unknown (live state lost)",
}


# Under the bars, where the full words would overlap.
SHORT_OUTCOME_WORDS = {
    "in_progress": "In progress",
    "declined_at_triage": "Declined",
    "connected_first_choice": "1st center",
    "connected_after_rollover": "Rolled over",
    "returned_to_911": "To 911",
    "caller_disconnected": "Hung up",
    "ended_unconnected": "Other end",
}


@dataclass(frozen=True)
class Table:
    """Figures as rows, with a caption and column headers."""

    caption: str
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Figure:
    """One chart and the table of its figures."""

    key: str
    svg: Markup
    table: Table


@dataclass
class Tally:
    """Counts of one bucket (a week, an hour of the day)."""

    label: str
    requested: int = 0
    transferred: int = 0
    connected: int = 0
    rolled_over: int = 0
    escalated: int = 0

    def add(self, row: HourRow) -> None:
        self.requested += row.requested
        self.transferred += row.transferred
        self.connected += row.connected
        self.rolled_over += row.rolled_over
        self.escalated += row.escalated

    @property
    def rollover_rate(self) -> float | None:
        return self.rolled_over / self.transferred if self.transferred else None

    @property
    def escalation_rate(self) -> float | None:
        return self.escalated / self.connected if self.connected else None


@dataclass(frozen=True)
class Figures:
    """Everything the page shows for one period."""

    total: SummaryRow | None
    charts: list[Figure] = field(default_factory=list)
    breakdowns: list[Table] = field(default_factory=list)


def weeks(rows: Sequence[HourRow], period: Period) -> list[Tally]:
    """Tallies per week (Monday to Sunday in the period's zone), empty weeks included."""
    zone = ZoneInfo(period.zone)
    days = [row.hour.astimezone(zone).date() for row in rows]
    first = period.first or min(days, default=None)
    last = period.last or max(days, default=None)
    if first is None or last is None:
        return []
    monday = first - timedelta(days=first.weekday())
    tallies: dict[date, Tally] = {}
    while monday <= last:
        tallies[monday] = Tally(monday.isoformat())
        monday += timedelta(weeks=1)
    for row, day in zip(rows, days, strict=True):
        week = day - timedelta(days=day.weekday())
        if week in tallies:
            tallies[week].add(row)
    return list(tallies.values())


def hours_of_day(rows: Sequence[HourRow], zone: str) -> list[Tally]:
    """Tallies per hour of the day (00 to 23) in `zone`."""
    tallies = [Tally(f"{hour:02d}") for hour in range(24)]
    for row in rows:
        tallies[row.hour.astimezone(ZoneInfo(zone)).hour].add(row)
    return tallies


def build(session: Session, period: Period) -> Figures:
    """The page's charts and breakdowns over `period`."""
    rows = reports.hourly(session, period)
    (total,) = reports.summary(session, period) or (None,)
    by_week = weeks(rows, period)
    charts = [
        _weekly(by_week),
        _outcomes(reports.outcomes(session, period)),
        _distribution(
            "answer",
            "Time to answer",
            reports.distribution(session, period, Transfer.answer_s, reports.ANSWER_EDGES),
        ),
        _distribution(
            "accept",
            "Time to accept",
            reports.distribution(session, period, Transfer.accept_s, reports.ACCEPT_EDGES),
        ),
        _weekly_rate(by_week, ROLLOVERS),
        _weekly_rate(by_week, ESCALATIONS),
        _hours(hours_of_day(rows, period.zone)),
    ]
    breakdowns = [
        _counties(reports.summary(session, period, "county")),
        _reasons(reports.decline_reasons(session, period)),
        _chain(reports.chain(session, period)),
    ]
    return Figures(total, charts, breakdowns)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} s"


def _weekly(tallies: list[Tally]) -> Figure:
    labels = [t.label[5:] for t in tallies]  # MM-DD: the year is in the period above
    chart = Chart(
        "weekly",
        "Transfers per week",
        "Transfers requested each week (Monday to Sunday), one bar per week.",
        labels,
        [t.requested for t in tallies],
        "Week starting (month-day)",
        "Transfers",
    )
    rows = [(t.label, str(t.requested), str(t.transferred), str(t.connected)) for t in tallies]
    table = Table(
        "Transfers per week", ("Week starting", "Requested", "Transferred", "Connected"), rows
    )
    return Figure("weekly", render(chart), table)


def _outcomes(counts: list[reports.Count]) -> Figure:
    words = [OUTCOME_WORDS.get(c.label, c.label) for c in counts]
    chart = Chart(
        "outcomes",
        "Outcomes",
        "How each transfer of the period ended, one bar per outcome.",
        [SHORT_OUTCOME_WORDS.get(c.label, c.label) for c in counts],
        [c.count for c in counts],
        "Outcome",
        "Transfers",
    )
    rows = [(w, str(c.count)) for w, c in zip(words, counts, strict=True)]
    return Figure("outcomes", render(chart), Table("Outcomes", ("Outcome", "Transfers"), rows))


def _bin_label(b: Bin) -> str:
    return f"{b.low:g}–{b.high:g} s" if b.high is not None else f"{b.low:g} s +"


def _distribution(key: str, name: str, bins: list[Bin]) -> Figure:
    labels = [_bin_label(b) for b in bins]
    step = "a counselor's line answered" if key == "answer" else "a counselor accepted"
    chart = Chart(
        key,
        f"{name} (distribution)",
        f"Seconds from the request until {step}, one bar per range of seconds.",
        labels,
        [b.count for b in bins],
        "Seconds",
        "Transfers",
    )
    rows = [(label, str(b.count)) for label, b in zip(labels, bins, strict=True)]
    return Figure(key, render(chart), Table(name, ("Seconds", "Transfers"), rows))


@dataclass(frozen=True)
class Rate:
    """A weekly rate chart: its key, title, the part's and whole's names, and figures."""

    key: str
    title: str
    part: str
    whole: str
    desc: str
    figures: Callable[[Tally], tuple[int, int, float | None]]


ROLLOVERS = Rate(
    "rollovers",
    "Rollover rate",
    "Rolled over",
    "Transferred",
    "Share of transferred calls that went on to another center, one bar per week.",
    lambda t: (t.rolled_over, t.transferred, t.rollover_rate),
)
ESCALATIONS = Rate(
    "escalations",
    "Escalation rate",
    "Escalated",
    "Connected",
    "Share of connected calls where the counselor brought 911 back, one bar per week.",
    lambda t: (t.escalated, t.connected, t.escalation_rate),
)


def _weekly_rate(tallies: list[Tally], rate: Rate) -> Figure:
    values = [rate.figures(t) for t in tallies]
    chart = Chart(
        rate.key,
        f"{rate.title} per week",
        rate.desc,
        [t.label[5:] for t in tallies],
        [share for _, _, share in values],
        "Week starting (month-day)",
        rate.part,
        percent=True,
    )
    rows = [(t.label, str(p), str(w), _percent(share))
            for t, (p, w, share) in zip(tallies, values, strict=True)]  # fmt: skip
    table = Table(rate.title, ("Week starting", rate.part, rate.whole, "Rate"), rows)
    return Figure(rate.key, render(chart), table)


def _hours(tallies: list[Tally]) -> Figure:
    chart = Chart(
        "hours",
        "Transfers by hour of day",
        "Transfers requested in each hour of the day, in the report's time zone.",
        [t.label for t in tallies],
        [t.requested for t in tallies],
        "Hour of day",
        "Transfers",
    )
    rows = [(f"{t.label}:00", str(t.requested), str(t.connected)) for t in tallies]
    table = Table("Transfers by hour of day", ("Hour", "Requested", "Connected"), rows)
    return Figure("hours", render(chart), table)


def _counties(rows: list[SummaryRow]) -> Table:
    headers = ("County (FIPS)", "Requested", "Transferred", "Connected", "Rollover rate",
               "Median time to answer")  # fmt: skip
    body = [
        (r.group or "not routed", str(r.requested), str(r.transferred), str(r.connected),
         _percent(r.rollover_rate), _seconds(r.answer_s_median))
        for r in rows
    ]  # fmt: skip
    return Table("By county", headers, body)


def _reasons(rows: list[reports.ReasonRow]) -> Table:
    body = [(r.stage, r.reason.replace("_", " "), str(r.count)) for r in rows]
    return Table("Decline and rollover reasons", ("Stage", "Reason", "Times"), body)


def _chain(rows: list[reports.ChainRow]) -> Table:
    headers = ("Position", "Center", "Rung", "Line answered", "Accepted", "Declined")
    body = [
        (str(r.position), r.center_id or "unknown", str(r.offered), str(r.answered),
         str(r.accepted), str(r.declined))
        for r in rows
    ]  # fmt: skip
    return Table("Each center in the chain", headers, body)
