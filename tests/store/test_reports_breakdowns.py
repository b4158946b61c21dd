"""The analysts' page breakdowns, from the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.adapters.store.models import Transfer
from gateway.adapters.store.outcomes import Result
from gateway.adapters.store.reports import (
    ANSWER_EDGES,
    ChainRow,
    Period,
    ReasonRow,
    chain,
    decline_reasons,
    distribution,
    hourly,
    outcomes,
    summary,
)
from gateway.domain.events import EventKind
from tests.store import factories as f
from tests.store.databases import save_events as save
from tests.store.factories import as_drill

DAY = 86_400


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    save(
        engine,
        [
            *f.connected_first_choice("tr_1"),
            *f.connected_after_rollover("tr_2", start=3600),
            *f.returned_to_911("tr_3", start=DAY),
            *f.declined_at_triage("tr_4", start=DAY + 60),
            *f.whisper_declined("tr_5", start=2 * DAY),
        ],
    )
    return engine


def test_each_center_in_the_chain_is_counted_at_the_position_it_was_rung(seeded: Engine) -> None:
    with Session(seeded) as session:
        rows = chain(session, Period())
    assert rows == [
        ChainRow(1, "ksphq", offered=4, answered=2, accepted=1, declined=1),
        ChainRow(2, "backup-ks", offered=2, answered=2, accepted=2, declined=0),
    ]


def test_decline_reasons_are_listed_stage_by_stage(seeded: Engine) -> None:
    with Session(seeded) as session:
        rows = decline_reasons(session, Period())
    assert rows == [
        ReasonRow("declined at triage", "risk_too_high", 1),
        ReasonRow("center line not answered", "busy", 1),
        ReasonRow("center line not answered", "no-answer", 1),
        ReasonRow("counselor declined", "key-2", 1),
        ReasonRow("returned to 911", "all_centers_failed", 1),
    ]


def test_the_county_breakdown_has_a_row_per_county_routed_on(seeded: Engine) -> None:
    with Session(seeded) as session:
        rows = summary(session, Period(), "county")
    assert [(r.group, r.requested, r.connected) for r in rows] == [("20045", 4, 3), (None, 1, 0)]


def test_hours_are_counted_in_utc_and_the_answer_times_in_bins(seeded: Engine) -> None:
    with Session(seeded) as session:
        hours = hourly(session, Period())
        bins = distribution(session, Period(), Transfer.answer_s, ANSWER_EDGES)
    assert [(h.hour, h.requested) for h in hours] == [
        (datetime(2026, 3, 2, 14, tzinfo=UTC), 1),
        (datetime(2026, 3, 2, 15, tzinfo=UTC), 1),
        (datetime(2026, 3, 3, 14, tzinfo=UTC), 2),
        (datetime(2026, 3, 4, 14, tzinfo=UTC), 1),
    ]
    # tr_1 answered at 10 s, tr_2 at 36 s, tr_5 at 10 s.
    assert [b.count for b in bins] == [0, 0, 2, 0, 0, 1, 0, 0]
    assert (bins[-1].low, bins[-1].high) == (60, None)


def test_drills_are_left_out_unless_asked_for(engine: Engine) -> None:
    save(engine, [*f.connected_first_choice("tr_real"), *as_drill(f.returned_to_911("tr_d"))])
    with Session(engine) as session:
        assert session.get(Transfer, "tr_d").drill is True  # type: ignore[union-attr]
        without = outcomes(session, Period())
        with_drills = outcomes(session, Period(include_drills=True))
    assert sum(c.count for c in without) == 1
    assert sum(c.count for c in with_drills) == 2


def test_a_transfer_dated_in_the_future_is_never_reported(engine: Engine) -> None:
    save(engine, f.connected_first_choice("tr_future"))
    before = Period(now=datetime(2026, 3, 1, tzinfo=UTC), include_drills=True)
    with Session(engine) as session:
        assert summary(session, before) == []
        assert len(summary(session, Period())) == 1


def test_a_period_is_read_in_its_time_zone(engine: Engine) -> None:
    # 2 March 2026 at 03:00 UTC is still 1 March in Kansas (21:00 CST).
    early = [e for e in f.connected_first_choice("tr_late", start=-11 * 3600)]
    save(engine, early)
    march_2 = date(2026, 3, 2)
    with Session(engine) as session:
        assert len(summary(session, Period(march_2, march_2))) == 1
        assert summary(session, Period(march_2, march_2, zone="America/Chicago")) == []


def test_every_outcome_is_listed_even_with_no_transfers(engine: Engine) -> None:
    with Session(engine) as session:
        counts = outcomes(session, Period())
    assert [c.count for c in counts] == [0] * len(Result)
    assert counts[0].label == "in_progress"


def test_the_drill_marker_marks_every_event_it_passes_on() -> None:
    (event,) = as_drill([f.requested("tr_x")])
    assert event.data["drill"] is True
    assert event.kind == EventKind.REQUESTED
