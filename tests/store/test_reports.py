"""Partnership figures from the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gateway.adapters.store.privacy import Cipher, TransferRecord, protect_transfer
from gateway.adapters.store.reports import (
    CSV_COLUMNS,
    Period,
    export_rows,
    nearest_rank,
    summary,
    volume,
    write_csv,
)
from gateway.adapters.store.repository import save_event, save_transfer
from gateway.domain.events import Event
from gateway.settings import Settings
from tests.store import factories as f

DAY = 86_400


def partnership() -> list[Event]:
    """Seven transfers over two weeks from two PSAPs (T0 is Monday 2 March 2026)."""
    return [
        *f.connected_first_choice("tr_1"),
        *f.connected_after_rollover("tr_2", start=3600),
        *f.returned_to_911("tr_3", start=DAY),
        *f.declined_at_triage("tr_4", start=DAY + 60),
        *f.connected_first_choice("tr_7", psap="psap-wyandotte", start=2 * DAY),
        *f.caller_hung_up_while_ringing("tr_5", start=8 * DAY),
        *f.escalated("tr_6", answered=True, start=8 * DAY + 60),
    ]


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        for event in partnership():
            save_event(session, event)
    return engine


def test_the_summary_counts_every_outcome_and_its_rates(seeded: Engine) -> None:
    with Session(seeded) as session:
        (row,) = summary(session, Period())
    assert (row.requested, row.declined_at_triage, row.transferred) == (7, 1, 6)
    assert (row.answered, row.connected) == (4, 4)
    assert (row.connected_first_choice, row.connected_after_rollover) == (3, 1)
    assert (row.returned_to_911, row.caller_disconnected, row.in_progress) == (1, 1, 0)
    assert (row.rolled_over, row.escalated, row.escalation_answered) == (1, 1, 1)
    assert (row.answer_rate, row.connect_rate) == (0.6667, 0.6667)
    assert (row.rollover_rate, row.return_to_911_rate, row.escalation_rate) == (
        0.1667,
        0.1667,
        0.25,
    )
    # Six transfers were routed (the declined one was not): one area code disagreed.
    assert (row.area_code_differs_share, row.ambiguous_share) == (0.1667, 0.0)


def test_the_summary_gives_median_and_90th_percentile_times(seeded: Engine) -> None:
    with Session(seeded) as session:
        (row,) = summary(session, Period())
    assert (row.answer_s_median, row.answer_s_p90) == (10.0, 36.0)
    assert (row.accept_s_median, row.accept_s_p90) == (14.0, 40.0)


def test_the_summary_by_psap_gives_one_row_per_psap(seeded: Engine) -> None:
    with Session(seeded) as session:
        rows = summary(session, Period(), "psap")
    assert [(r.group, r.requested, r.connected) for r in rows] == [
        ("psap-douglas", 6, 3),
        ("psap-wyandotte", 1, 1),
    ]


def test_the_summary_by_center_lists_transfers_never_routed_last(seeded: Engine) -> None:
    with Session(seeded) as session:
        by_first = summary(session, Period(), "center")
        by_taker = summary(session, Period(), "connected_center")
    assert [(r.group, r.requested) for r in by_first] == [("ksphq", 6), (None, 1)]
    assert [(r.group, r.connected) for r in by_taker] == [
        ("backup-ks", 1),
        ("ksphq", 3),
        (None, 0),
    ]


def test_a_period_keeps_only_the_transfers_started_in_it(seeded: Engine) -> None:
    with Session(seeded) as session:
        (row,) = summary(session, Period(date(2026, 3, 3), date(2026, 3, 4)))
        assert summary(session, Period(date(2027, 1, 1), None)) == []
    assert (row.requested, row.transferred, row.connected) == (3, 2, 1)


def test_volume_per_day_counts_requested_transferred_and_connected(seeded: Engine) -> None:
    with Session(seeded) as session:
        rows = volume(session, Period(), "day")
    assert [(r.period_start, r.requested, r.transferred, r.connected) for r in rows] == [
        ("2026-03-02", 2, 2, 2),
        ("2026-03-03", 2, 1, 0),
        ("2026-03-04", 1, 1, 1),
        ("2026-03-10", 2, 2, 1),
    ]


def test_volume_per_week_starts_on_monday_and_splits_by_psap(seeded: Engine) -> None:
    with Session(seeded) as session:
        rows = volume(session, Period(), "week", "psap")
    assert [(r.period_start, r.group, r.requested, r.transferred, r.connected) for r in rows] == [
        ("2026-03-02", "psap-douglas", 4, 3, 2),
        ("2026-03-02", "psap-wyandotte", 1, 1, 1),
        ("2026-03-09", "psap-douglas", 2, 2, 1),
    ]


def test_the_csv_export_has_one_row_per_transfer_and_no_personal_field(seeded: Engine) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(caller_hash_key="h", encryption_key=key, coordinate_decimals=2)
    base = TransferRecord(transfer_id="tr_1", created_at=f.T0)
    record = protect_transfer(settings, base, caller="+17855550101", summary="Anxious caller.")
    save_transfer(seeded, record, Cipher(key))
    out = io.StringIO()
    with Session(seeded) as session:
        assert write_csv(export_rows(session, Period()), out) == 7
    text = out.getvalue()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["transfer_id"] == "tr_1"
    assert rows[0]["outcome"] == "connected_first_choice"
    assert rows[0]["started_at"] == "2026-03-02T14:00:00+00:00"
    assert rows[1]["area_code_differs"] == "true"
    for secret in (record.caller_hash, record.caller_encrypted, record.summary_encrypted):
        assert secret and secret not in text


def test_percentiles_take_the_nearest_rank() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert (nearest_rank(values, 50), nearest_rank(values, 90)) == (5.0, 9.0)
    assert nearest_rank([7.0], 90) == 7.0
    assert nearest_rank([], 50) is None
