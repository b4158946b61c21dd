"""Partnership figures, computed in SQL over the `transfers` table.

Each transfer's outcome and durations are already derived onto its row when its events are
written, so a report reads one row per transfer (not the event log) through the
`(group, started_at)` indexes: counts and rates are SQL aggregates; medians and 90th
percentiles are taken (nearest rank) from one sorted column fetched per report.

Definitions (docs/data.md repeats them for readers of the figures):
- a period is a range of dates in a time zone (UTC unless the report says otherwise);
  drills and demos (`drill`), and anything dated in the future, are left out unless asked
  for (see Period).
- requested: every transfer started in the period; transferred: requested minus those
  declined at triage; rates are over transferred transfers unless said otherwise.
- answered: a counselor's line picked up (first DIAL_RESULT "answered"); connected: a
  counselor accepted (whisper).
- groups: "psap"; "center" is the first-choice (routed) center; "connected_center" is the
  center that took the call; "county" is the county routed on; "all" is one row. Rows
  without a value (e.g. never routed) come last, as the group None.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    nulls_last,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.adapters.store.models import Transfer, TransferEvent
from gateway.adapters.store.outcomes import ANSWERED, CONNECTED, Result
from gateway.domain.events import EventKind

Grouping = Literal["all", "psap", "center", "connected_center", "county"]
Bucket = Literal["day", "week"]
GROUPINGS: tuple[Grouping, ...] = ("all", "psap", "center", "connected_center", "county")


@dataclass(frozen=True)
class Period:
    """Transfers started on `first` .. `last` (dates in `zone`, both included).

    None: unbounded. Drills are left out unless `include_drills`; a transfer dated after
    `now` (a drill's virtual clock, or a clock error: nothing real starts in the future)
    is always left out.
    """

    first: date | None = None
    last: date | None = None
    zone: str = "UTC"
    include_drills: bool = False
    now: datetime | None = None

    def start(self) -> datetime | None:
        """The first instant of the period, as a UTC time (None: unbounded)."""
        if self.first is None:
            return None
        return datetime.combine(self.first, time(), ZoneInfo(self.zone)).astimezone(UTC)

    def end(self) -> datetime | None:
        """The instant after the period's last day, as a UTC time (None: unbounded)."""
        if self.last is None:
            return None
        midnight = datetime.combine(self.last + timedelta(days=1), time(), ZoneInfo(self.zone))
        return midnight.astimezone(UTC)

    def condition(self) -> ColumnElement[bool]:
        start, end = self.start(), self.end()
        conditions: list[ColumnElement[bool]] = [
            Transfer.started_at.is_not(None),
            Transfer.started_at <= (self.now or datetime.now(UTC)),
        ]
        if start is not None:
            conditions.append(Transfer.started_at >= start)
        if end is not None:
            conditions.append(Transfer.started_at < end)
        if not self.include_drills:
            conditions.append(Transfer.drill.is_(False))
        return and_(*conditions)


@dataclass(frozen=True)
class SummaryRow:
    """The figures of one group over a period (rates in 0..1, times in seconds)."""

    group: str | None
    requested: int
    declined_at_triage: int
    transferred: int
    answered: int
    connected: int
    connected_first_choice: int
    connected_after_rollover: int
    returned_to_911: int
    caller_disconnected: int
    in_progress: int
    rolled_over: int
    escalated: int
    escalation_answered: int
    answer_rate: float | None
    connect_rate: float | None
    rollover_rate: float | None
    return_to_911_rate: float | None
    escalation_rate: float | None
    area_code_differs_share: float | None
    ambiguous_share: float | None
    answer_s_median: float | None
    answer_s_p90: float | None
    accept_s_median: float | None
    accept_s_p90: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VolumeRow:
    """Transfers of one group in one day or week (`period_start`: the day, or the Monday)."""

    period_start: str
    group: str | None
    requested: int
    transferred: int
    connected: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _group_column(grouping: Grouping) -> ColumnElement[Any]:
    columns: dict[Grouping, ColumnElement[Any]] = {
        "all": literal(None),
        "psap": Transfer.psap_id.expression,
        "center": Transfer.first_center_id.expression,
        "connected_center": Transfer.connected_center_id.expression,
        "county": Transfer.county_fips.expression,
    }
    return columns[grouping]


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


_TRANSFERRED = Transfer.outcome != Result.DECLINED_AT_TRIAGE.value
_CONNECTED = Transfer.outcome.in_([r.value for r in CONNECTED])


def _is(result: Result) -> ColumnElement[bool]:
    return Transfer.outcome == result.value


def _summary_query(period: Period, grouping: Grouping) -> Select[Any]:
    group = _group_column(grouping).label("group")
    return (
        select(
            group,
            func.count().label("requested"),
            _count_if(_is(Result.DECLINED_AT_TRIAGE)).label("declined_at_triage"),
            _count_if(_TRANSFERRED).label("transferred"),
            _count_if(_TRANSFERRED & Transfer.answer_s.is_not(None)).label("answered"),
            _count_if(_CONNECTED).label("connected"),
            _count_if(_is(Result.CONNECTED_FIRST_CHOICE)).label("connected_first_choice"),
            _count_if(_is(Result.CONNECTED_AFTER_ROLLOVER)).label("connected_after_rollover"),
            _count_if(_is(Result.RETURNED_TO_911)).label("returned_to_911"),
            _count_if(_is(Result.CALLER_DISCONNECTED)).label("caller_disconnected"),
            _count_if(_is(Result.IN_PROGRESS)).label("in_progress"),
            _count_if(_TRANSFERRED & (Transfer.rollovers > 0)).label("rolled_over"),
            _count_if(Transfer.escalated.is_(True)).label("escalated"),
            _count_if(Transfer.escalation_answered.is_(True)).label("escalation_answered"),
            _count_if(Transfer.area_code_differs.is_(True)).label("area_code_differs"),
            func.count(Transfer.area_code_differs).label("area_code_known"),
            _count_if(Transfer.ambiguous.is_(True)).label("ambiguous"),
            func.count(Transfer.ambiguous).label("ambiguity_known"),
        )
        .where(period.condition())
        .group_by(group)
        .order_by(nulls_last(group))
    )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summary(session: Session, period: Period, grouping: Grouping = "all") -> list[SummaryRow]:
    """The partnership's figures over a period, one row per group.

    Args:
        session: a session on the store.
        period: which transfers (by the day they started, UTC).
        grouping: "all", "psap", "center" (first choice) or "connected_center".

    Returns:
        One row per group that has transfers in the period, ordered by group.
    """
    answer = percentiles(session, period, grouping, Transfer.answer_s)
    accept = percentiles(session, period, grouping, Transfer.accept_s)
    rows = []
    for r in session.execute(_summary_query(period, grouping)).mappings():
        group = r["group"]
        rows.append(
            SummaryRow(
                group=group,
                requested=r["requested"],
                declined_at_triage=r["declined_at_triage"],
                transferred=r["transferred"],
                answered=r["answered"],
                connected=r["connected"],
                connected_first_choice=r["connected_first_choice"],
                connected_after_rollover=r["connected_after_rollover"],
                returned_to_911=r["returned_to_911"],
                caller_disconnected=r["caller_disconnected"],
                in_progress=r["in_progress"],
                rolled_over=r["rolled_over"],
                escalated=r["escalated"],
                escalation_answered=r["escalation_answered"],
                answer_rate=_share(r["answered"], r["transferred"]),
                connect_rate=_share(r["connected"], r["transferred"]),
                rollover_rate=_share(r["rolled_over"], r["transferred"]),
                return_to_911_rate=_share(r["returned_to_911"], r["transferred"]),
                escalation_rate=_share(r["escalated"], r["connected"]),
                area_code_differs_share=_share(r["area_code_differs"], r["area_code_known"]),
                ambiguous_share=_share(r["ambiguous"], r["ambiguity_known"]),
                answer_s_median=answer.get(group, (None, None))[0],
                answer_s_p90=answer.get(group, (None, None))[1],
                accept_s_median=accept.get(group, (None, None))[0],
                accept_s_p90=accept.get(group, (None, None))[1],
            )
        )
    return rows


def nearest_rank(values: Sequence[float], percent: float) -> float | None:
    """The nearest-rank percentile of sorted values (None when there are none)."""
    if not values:
        return None
    rank = max(1, math.ceil(percent / 100 * len(values)))
    return values[rank - 1]


def percentiles(
    session: Session,
    period: Period,
    grouping: Grouping,
    column: InstrumentedAttribute[float | None],
) -> dict[str | None, tuple[float | None, float | None]]:
    """Median and 90th percentile of a duration column, per group, over transferred calls."""
    group = _group_column(grouping).label("group")
    query = (
        select(group, column)
        .where(period.condition(), _TRANSFERRED, column.is_not(None))
        .order_by(nulls_last(group), column)
    )
    result: dict[str | None, tuple[float | None, float | None]] = {}
    rows = session.execute(query)
    for key, pairs in itertools.groupby(rows, key=lambda pair: pair[0]):
        values = [value for _, value in pairs if value is not None]
        result[key] = (nearest_rank(values, 50), nearest_rank(values, 90))
    return result


def _bucket_column(session: Session, bucket: Bucket) -> ColumnElement[str]:
    """The day (YYYY-MM-DD) or the Monday of the week a transfer started, in UTC."""
    if session.get_bind().dialect.name == "sqlite":
        # Stored as naive UTC text; "weekday 0" moves to the next Sunday (or stays), and
        # six days back from it is that week's Monday.
        if bucket == "day":
            return func.date(Transfer.started_at)
        return func.date(Transfer.started_at, "weekday 0", "-6 days")
    utc = func.timezone("UTC", Transfer.started_at)
    return func.to_char(func.date_trunc(bucket, utc), "YYYY-MM-DD")


def volume(
    session: Session, period: Period, bucket: Bucket = "day", grouping: Grouping = "all"
) -> list[VolumeRow]:
    """Transfers per day or week, per group: requested, transferred and connected.

    Returns:
        One row per (period start, group) with transfers, in that order.
    """
    start = _bucket_column(session, bucket).label("period_start")
    group = _group_column(grouping).label("group")
    query = (
        select(
            start,
            group,
            func.count().label("requested"),
            _count_if(_TRANSFERRED).label("transferred"),
            _count_if(_CONNECTED).label("connected"),
        )
        .where(period.condition())
        .group_by(start, group)
        .order_by(start, nulls_last(group))
    )
    return [VolumeRow(**row) for row in session.execute(query).mappings()]


# The CSV export for a data-sharing agreement: one row per transfer, no personal field.
CSV_COLUMNS = (
    "transfer_id",
    "started_at",
    "ended_at",
    "psap_id",
    "first_center_id",
    "connected_center_id",
    "area_code_center_id",
    "area_code_differs",
    "ambiguous",
    "county_fips",
    "method",
    "risk",
    "call_type",
    "language",
    "veteran",
    "outcome",
    "outcome_reason",
    "rollovers",
    "dial_attempts",
    "escalated",
    "escalation_answered",
    "route_s",
    "answer_s",
    "accept_s",
    "handoff_s",
    "total_s",
    "caller_hung_up_s",
    "escalation_answer_s",
    "drill",
)


def export_rows(session: Session, period: Period) -> Iterator[dict[str, Any]]:
    """The transfers of a period as CSV-ready dicts, oldest first, streamed."""
    columns = [getattr(Transfer, name) for name in CSV_COLUMNS]
    query = (
        select(*columns)
        .where(period.condition())
        .order_by(Transfer.started_at, Transfer.transfer_id)
        .execution_options(yield_per=1000)
    )
    for row in session.execute(query).mappings():
        yield {name: _csv_value(row[name]) for name in CSV_COLUMNS}


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def write_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write export rows as CSV with a header; returns how many rows were written."""
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


# -- Breakdowns for the analysts' page (gateway/web/reports_page.py) ------------------------


@dataclass(frozen=True)
class HourRow:
    """Transfers that started in one UTC hour (`hour`: its first instant)."""

    hour: datetime
    requested: int
    transferred: int
    connected: int
    rolled_over: int
    escalated: int


def _hour_column(session: Session) -> ColumnElement[str]:
    """The UTC hour a transfer started in, as "YYYY-MM-DD HH:00:00" text."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", Transfer.started_at)
    utc = func.timezone("UTC", Transfer.started_at)
    return func.to_char(func.date_trunc("hour", utc), "YYYY-MM-DD HH24:00:00")


def hourly(session: Session, period: Period) -> list[HourRow]:
    """Counts per UTC hour: what weekly and hour-of-day reports in any time zone are
    summed from (exact for zones a whole number of hours from UTC, as every US zone is).

    Returns:
        One row per hour with transfers, oldest first.
    """
    hour = _hour_column(session).label("hour")
    query = (
        select(
            hour,
            func.count().label("requested"),
            _count_if(_TRANSFERRED).label("transferred"),
            _count_if(_CONNECTED).label("connected"),
            _count_if(_TRANSFERRED & (Transfer.rollovers > 0)).label("rolled_over"),
            _count_if(Transfer.escalated.is_(True)).label("escalated"),
        )
        .where(period.condition())
        .group_by(hour)
        .order_by(hour)
    )
    rows = []
    for r in session.execute(query).mappings():
        at = datetime.fromisoformat(r["hour"]).replace(tzinfo=UTC)
        rows.append(HourRow(**{**r, "hour": at}))
    return rows


@dataclass(frozen=True)
class Count:
    """How many transfers (or steps) fall under one label."""

    label: str
    count: int


def outcomes(session: Session, period: Period) -> list[Count]:
    """Transfers per outcome, every outcome listed (zero when none), in a fixed order."""
    query = (
        select(Transfer.outcome, func.count()).where(period.condition()).group_by(Transfer.outcome)
    )
    counts: dict[str, int] = {outcome: n for outcome, n in session.execute(query).all()}
    return [Count(result.value, counts.get(result.value, 0)) for result in Result]


@dataclass(frozen=True)
class Bin:
    """One bar of a distribution: values from `low` to below `high` (None: no bound)."""

    low: float
    high: float | None
    count: int


# Bin edges in seconds; the last bin holds everything from the last edge up.
ANSWER_EDGES = (0, 5, 10, 15, 20, 30, 45, 60)
ACCEPT_EDGES = (0, 10, 20, 30, 45, 60, 90, 120)


def distribution(
    session: Session,
    period: Period,
    column: InstrumentedAttribute[float | None],
    edges: Sequence[float],
) -> list[Bin]:
    """How a duration (answer_s, accept_s) is spread over bins, over transferred calls.

    Returns:
        One bin per edge, zero counts included, so a chart always has its axis.
    """
    index = case(
        *((column < edge, i) for i, edge in enumerate(edges[1:])), else_=len(edges) - 1
    ).label("bin")
    query = (
        select(index, func.count())
        .where(period.condition(), _TRANSFERRED, column.is_not(None))
        .group_by(index)
    )
    counts: dict[int, int] = {i: n for i, n in session.execute(query).all()}
    highs: list[float | None] = [*edges[1:], None]
    return [
        Bin(low, high, counts.get(i, 0))
        for i, (low, high) in enumerate(zip(edges, highs, strict=True))
    ]


@dataclass(frozen=True)
class ReasonRow:
    """How often one reason stopped a transfer at one stage."""

    stage: str
    reason: str
    count: int


# Stages a transfer can be turned away at, in the order a call meets them.
STAGES = ("declined at triage", "center line not answered", "counselor declined",
          "returned to 911")  # fmt: skip


def decline_reasons(session: Session, period: Period) -> list[ReasonRow]:
    """Why transfers were declined or rolled over, stage by stage, most frequent first.

    Triage declines and returns to 911 are counted once per transfer (their reason is on
    the transfer); a center's line not answering and a counselor declining are counted
    once per time it happened (a transfer can roll over more than once).
    """
    rows = [
        *_outcome_reasons(session, period),
        *_event_reasons(session, period, EventKind.DIAL_RESULT, "status"),
        *_event_reasons(session, period, EventKind.WHISPER_DECLINED, "reason"),
    ]
    return sorted(rows, key=lambda r: (STAGES.index(r.stage), -r.count, r.reason))


def _outcome_reasons(session: Session, period: Period) -> list[ReasonRow]:
    stage = {Result.DECLINED_AT_TRIAGE.value: STAGES[0], Result.RETURNED_TO_911.value: STAGES[3]}
    query = (
        select(Transfer.outcome, Transfer.outcome_reason, func.count())
        .where(period.condition(), Transfer.outcome.in_(stage))
        .group_by(Transfer.outcome, Transfer.outcome_reason)
    )
    return [
        ReasonRow(stage[outcome], reason or "not given", n)
        for outcome, reason, n in session.execute(query).all()
    ]


def _event_reasons(
    session: Session, period: Period, kind: EventKind, field: str
) -> list[ReasonRow]:
    reason = TransferEvent.data[field].as_string().label("reason")
    query = (
        select(reason, func.count())
        .join(Transfer, Transfer.transfer_id == TransferEvent.transfer_id)
        .where(period.condition(), TransferEvent.kind == kind.value)
        .group_by(reason)
    )
    if kind == EventKind.DIAL_RESULT:
        # An answered line is not a reason; a counselor's decline has its own event.
        query = query.where(reason.not_in([ANSWERED, "declined"]))
    stage = STAGES[1] if kind == EventKind.DIAL_RESULT else STAGES[2]
    return [ReasonRow(stage, r or "not given", n) for r, n in session.execute(query).all()]


@dataclass(frozen=True)
class ChainRow:
    """One center at one position of the chain (1: the first center rung, 2: the next...)."""

    position: int
    center_id: str | None
    offered: int
    answered: int
    accepted: int
    declined: int


def chain(session: Session, period: Period) -> list[ChainRow]:
    """Each center at each position of the dial plan: how often it was rung there, and
    how often its line answered, a counselor accepted, or a counselor declined.

    Positions count the centers actually rung, in order (a center skipped because it was
    closed takes no position).
    """
    center = TransferEvent.data["center_id"].as_string()
    rank = func.row_number().over(
        partition_by=TransferEvent.transfer_id, order_by=(TransferEvent.at, TransferEvent.id)
    )
    attempts = (
        select(TransferEvent.transfer_id, center.label("center_id"), rank.label("position"))
        .where(TransferEvent.kind == EventKind.DIAL_ATTEMPT.value, _of_period(period))
        .subquery()
    )
    answered = _centers_with(period, EventKind.DIAL_RESULT, status=ANSWERED)
    declined = _centers_with(period, EventKind.WHISPER_DECLINED)
    offered = func.count()
    query = (
        select(
            attempts.c.position,
            attempts.c.center_id,
            offered,
            func.count(answered.c.transfer_id),
            _count_if(Transfer.connected_center_id == attempts.c.center_id),
            func.count(declined.c.transfer_id),
        )
        .join(Transfer, Transfer.transfer_id == attempts.c.transfer_id)
        .outerjoin(answered, _same_leg(answered, attempts))
        .outerjoin(declined, _same_leg(declined, attempts))
        .where(period.condition())
        .group_by(attempts.c.position, attempts.c.center_id)
        .order_by(attempts.c.position, offered.desc(), attempts.c.center_id)
    )
    return [ChainRow(*row) for row in session.execute(query).all()]


def _of_period(period: Period) -> ColumnElement[bool]:
    """Events of the period's transfers: read through the transfers' indexes, so the
    event log is only read for the transfers of the period."""
    return TransferEvent.transfer_id.in_(select(Transfer.transfer_id).where(period.condition()))


def _centers_with(period: Period, kind: EventKind, **data: str) -> Subquery:
    """(transfer, center) pairs of the period with an event of `kind` (and these values)."""
    center = TransferEvent.data["center_id"].as_string().label("center_id")
    query = select(TransferEvent.transfer_id, center).where(
        TransferEvent.kind == kind.value, _of_period(period)
    )
    for name, value in data.items():
        query = query.where(TransferEvent.data[name].as_string() == value)
    return query.distinct().subquery()


def _same_leg(found: Subquery, attempts: Subquery) -> ColumnElement[bool]:
    return and_(
        found.c.transfer_id == attempts.c.transfer_id, found.c.center_id == attempts.c.center_id
    )
