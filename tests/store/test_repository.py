"""Writing events and transfer records to the store: once, in any order, on both databases."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from gateway.adapters.store.models import Base, Transfer, TransferEvent
from gateway.adapters.store.outcomes import Result
from gateway.adapters.store.privacy import Cipher, TransferRecord, protect_transfer
from gateway.adapters.store.repository import (
    purge_personal_fields,
    save_event,
    save_events,
    save_transfer,
)
from gateway.adapters.store.schema import alembic_config
from gateway.domain.events import Event
from gateway.settings import Settings
from tests.store import factories as f

KEY = Fernet.generate_key().decode()
SETTINGS = Settings(caller_hash_key="test-hash-key", encryption_key=KEY, coordinate_decimals=2)
CALLER = "+1 785 555 0101"


def write(engine: Engine, events: list[Event]) -> list[bool]:
    """Write each event in its own transaction, as one job per event does."""
    results = []
    for event in events:
        with Session(engine) as session, session.begin():
            results.append(save_event(session, event))
    return results


def transfer(engine: Engine, tid: str) -> Transfer:
    with Session(engine) as session:
        row = session.get(Transfer, tid)
        assert row is not None
        return row


def event_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(TransferEvent)) or 0


def record(tid: str, **protect: object) -> TransferRecord:
    base = TransferRecord(transfer_id=tid, created_at=f.T0, psap_id="psap-douglas", risk="low")
    return protect_transfer(SETTINGS, base, **protect)  # type: ignore[arg-type]


def test_the_schema_is_exactly_what_the_migrations_build(engine: Engine) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert context.get_current_revision() == head
        assert compare_metadata(context, Base.metadata) == []


def test_an_event_is_written_once_however_often_it_arrives(engine: Engine) -> None:
    events = f.connected_first_choice("tr_once")
    assert write(engine, events) == [True] * len(events)
    assert write(engine, [events[2], events[2], events[5]]) == [False, False, False]
    assert event_count(engine) == len(events)
    assert transfer(engine, "tr_once").event_count == len(events)


def test_events_written_out_of_order_leave_the_final_outcome_in_the_row(engine: Engine) -> None:
    events = f.connected_after_rollover("tr_order")
    write(engine, list(reversed(events)))
    row = transfer(engine, "tr_order")
    assert row.outcome == Result.CONNECTED_AFTER_ROLLOVER
    assert (row.first_center_id, row.connected_center_id) == ("ksphq", "backup-ks")
    assert (row.answer_s, row.accept_s, row.handoff_s, row.total_s) == (36.0, 40.0, 30.0, 900.0)
    assert row.started_at == f.T0
    assert (row.rollovers, row.area_code_differs, row.county_fips) == (1, True, "20045")


def test_stored_event_times_and_data_come_back_as_written(engine: Engine) -> None:
    event = f.routed("tr_back", at=1.25)
    write(engine, [event])
    with Session(engine) as session:
        row = session.scalars(select(TransferEvent)).one()
    assert (row.key, row.kind, row.at) == (event.key, "routed", event.at)
    assert row.at.tzinfo is not None
    assert row.data == dict(event.data)


def test_a_record_and_its_events_meet_in_one_row_whichever_comes_first(engine: Engine) -> None:
    write(engine, f.returned_to_911("tr_late_record"))
    save_transfer(engine, record("tr_late_record", caller=CALLER), Cipher(KEY))
    save_transfer(engine, record("tr_early_record", caller=CALLER), Cipher(KEY))
    write(engine, f.returned_to_911("tr_early_record"))
    for tid in ("tr_late_record", "tr_early_record"):
        row = transfer(engine, tid)
        assert (row.outcome, row.outcome_reason) == ("returned_to_911", "all_centers_failed")
        assert row.caller_encrypted is not None
        assert Cipher(KEY).decrypt(row.caller_encrypted) == "+17855550101"
        assert row.created_at == f.T0


def test_a_repeated_record_changes_nothing(engine: Engine) -> None:
    first = record("tr_rec", caller=CALLER, summary="Caller anxious, no weapons.")
    save_transfer(engine, first, Cipher(KEY))
    before = transfer(engine, "tr_rec")
    save_transfer(engine, first, Cipher(KEY))
    after = transfer(engine, "tr_rec")
    assert (after.caller_hash, after.caller_encrypted, after.summary_encrypted) == (
        before.caller_hash,
        before.caller_encrypted,
        before.summary_encrypted,
    )


def test_rounded_coordinates_are_stored_when_configured(engine: Engine) -> None:
    save_transfer(engine, record("tr_loc", latitude=39.11412, longitude=-94.62731), Cipher(KEY))
    row = transfer(engine, "tr_loc")
    assert (row.latitude, row.longitude) == (39.11, -94.63)


def test_coordinates_are_not_stored_when_only_the_county_is_kept(engine: Engine) -> None:
    county_only = Settings(encryption_key=KEY, coordinate_decimals=-1)
    base = TransferRecord(transfer_id="tr_county", created_at=f.T0)
    protected = protect_transfer(county_only, base, latitude=39.11412, longitude=-94.62731)
    save_transfer(engine, protected, Cipher(KEY))
    row = transfer(engine, "tr_county")
    assert (row.latitude, row.longitude) == (None, None)


def test_retention_deletes_personal_fields_after_the_configured_days(engine: Engine) -> None:
    old = record("tr_old", caller=CALLER, summary="Summary.", latitude=39.1, longitude=-94.6)
    recent = TransferRecord(transfer_id="tr_recent", created_at=f.T0 + timedelta(days=80))
    save_transfer(engine, old, Cipher(KEY))
    save_transfer(engine, protect_transfer(SETTINGS, recent, caller=CALLER), Cipher(KEY))
    write(engine, f.connected_first_choice("tr_old"))
    now = f.T0 + timedelta(days=91)
    with Session(engine) as session, session.begin():
        assert purge_personal_fields(session, 90, clock=lambda: now) == 1
    purged, kept = transfer(engine, "tr_old"), transfer(engine, "tr_recent")
    assert (purged.caller_encrypted, purged.summary_encrypted) == (None, None)
    assert (purged.latitude, purged.longitude) == (None, None)
    assert purged.personal_purged_at == now
    # What the reports need stays: the outcome, its times, and the repeat-caller link.
    assert purged.outcome == Result.CONNECTED_FIRST_CHOICE
    assert purged.accept_s == 14.0
    assert purged.caller_hash == kept.caller_hash
    assert kept.caller_encrypted is not None


def test_a_replayed_record_does_not_bring_back_purged_fields(engine: Engine) -> None:
    old = record("tr_replay", caller=CALLER, summary="Summary.")
    save_transfer(engine, old, Cipher(KEY))
    with Session(engine) as session, session.begin():
        purge_personal_fields(session, 1, clock=lambda: f.T0 + timedelta(days=2))
    save_transfer(engine, old, Cipher(KEY))
    row = transfer(engine, "tr_replay")
    assert (row.caller_encrypted, row.summary_encrypted) == (None, None)


def test_two_workers_writing_one_transfer_at_once_lose_no_event(engine: Engine) -> None:
    events = f.connected_after_rollover("tr_race")
    halves = [events[0::2], events[1::2]]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(batch: list[Event]) -> None:
        try:
            barrier.wait()
            write(engine, batch)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    row = transfer(engine, "tr_race")
    assert row.event_count == len(events)
    assert row.outcome == Result.CONNECTED_AFTER_ROLLOVER


def test_a_naive_time_is_refused_by_the_store(engine: Engine) -> None:
    naive = datetime(2026, 3, 2, 14, 0)
    with Session(engine) as session, pytest.raises(StatementError, match="timezone-aware"):
        session.add(Transfer(transfer_id="tr_naive", created_at=naive))
        session.flush()


def test_a_batch_writes_each_event_once_and_derives_each_transfer_outcome(engine: Engine) -> None:
    first = f.connected_first_choice("tr_batch_a")
    second = f.connected_after_rollover("tr_batch_b")
    write(engine, first[:2])  # already stored: a redelivered batch meets them again
    batch = [*reversed(second), *first, first[3], second[0]]
    with Session(engine) as session, session.begin():
        new = save_events(session, batch)
    assert new == {e.key for e in first[2:]} | {e.key for e in second}
    assert event_count(engine) == len(first) + len(second)
    a, b = transfer(engine, "tr_batch_a"), transfer(engine, "tr_batch_b")
    assert (a.outcome, a.event_count, a.accept_s) == ("connected_first_choice", len(first), 14.0)
    assert (b.outcome, b.event_count) == ("connected_after_rollover", len(second))
    with Session(engine) as session, session.begin():
        assert save_events(session, batch) == set()
        assert save_events(session, []) == set()


def test_two_writers_with_overlapping_batches_neither_deadlock_nor_lose_an_event(
    engine: Engine,
) -> None:
    tids = [f"tr_overlap_{n}" for n in range(6)]
    events = [e for tid in tids for e in f.connected_after_rollover(tid)]
    # Each writer's batch touches every transfer, in opposite orders.
    halves = [events[0::2], list(reversed(events[1::2]))]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(batch: list[Event]) -> None:
        try:
            barrier.wait()
            with Session(engine) as session, session.begin():
                save_events(session, batch)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert event_count(engine) == len(events)
    for tid in tids:
        row = transfer(engine, tid)
        assert (row.outcome, row.event_count) == ("connected_after_rollover", len(events) // 6)
