"""Live transfer state in Redis: it round-trips whole, and concurrent changes never collide."""

from __future__ import annotations

import json
import threading

import pytest
import redis

from gateway.adapters.connections import StateUnavailable, redis_client
from gateway.adapters.live_state import TransferStore
from gateway.domain.transfer import (
    Attempt,
    AttemptStatus,
    Escalation,
    EscalationAttempt,
    EscalationStatus,
    IllegalTransition,
    Transfer,
    TransferStatus,
    move,
    new_transfer_id,
)


def a_transfer(**changes: object) -> Transfer:
    transfer = Transfer(
        id=new_transfer_id(),
        origin="api",
        psap_id="wyandotte-911",
        status="dialing",
        created_at=1_780_000_000.0,
        dial_plan=["kc-kansas", "ks-statewide", "national"],
        callback_sealed="gAAAAAsealed-callback-number",
    )
    for name, value in changes.items():
        setattr(transfer, name, value)
    return transfer


def test_a_transfer_with_attempts_history_and_an_escalation_round_trips_whole() -> None:
    transfer = a_transfer(
        attempts=[Attempt("kc-kansas", "failed", "no-answer", "CA1", 3.0), Attempt("ks-statewide")],
        escalation=Escalation(2, "key", 40.0, attempts=[EscalationAttempt(1, call_sid="CA9")]),
    )
    transfer.note(1.0, "caller_arrived")
    transfer.note(2.0, "dial_result", status="busy")

    assert Transfer.from_json(transfer.to_json()) == transfer


def test_a_value_written_by_a_later_version_with_more_fields_still_reads() -> None:
    """A rollback, or two versions side by side during a deploy: fields this version does
    not know are left out, at every level."""
    transfer = a_transfer(
        attempts=[Attempt("kc-kansas", "failed", "no-answer", "CA1", 3.0)],
        escalation=Escalation(1, "key", 40.0, attempts=[EscalationAttempt(0, call_sid="CA9")]),
    )
    data = json.loads(transfer.to_json())
    data["added_later"] = {"any": "thing"}
    data["attempts"][0]["added_later"] = 1
    data["escalation"]["added_later"] = True
    data["escalation"]["attempts"][0]["added_later"] = "x"

    assert Transfer.from_json(json.dumps(data)) == transfer


def test_changes_racing_from_many_threads_are_all_kept(gateway_redis: redis.Redis) -> None:
    store = TransferStore(gateway_redis)
    transfer = a_transfer()
    store.create(transfer, window_s=60)
    start = threading.Barrier(8)  # 96 notes: under the history cap (100)

    def add_notes(worker: int) -> None:
        start.wait()
        for i in range(12):
            store.update(transfer.id, lambda t, w=worker, i=i: t.note(float(i), f"w{w}-{i}"))

    threads = [threading.Thread(target=add_notes, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    saved = store.get(transfer.id)
    assert saved is not None
    assert sorted(h["kind"] for h in saved.history) == sorted(
        f"w{w}-{i}" for w in range(8) for i in range(12)
    )


def test_changing_an_unknown_transfer_changes_nothing(gateway_redis: redis.Redis) -> None:
    store = TransferStore(gateway_redis)
    assert store.update("tr_0000000000000000", lambda t: t.note(0.0, "x")) is None
    assert gateway_redis.get(TransferStore.key("tr_0000000000000000")) is None


def test_a_change_that_changes_nothing_writes_nothing(gateway_redis: redis.Redis) -> None:
    store = TransferStore(gateway_redis)
    transfer = a_transfer()
    store.create(transfer, window_s=60)
    key = TransferStore.key(transfer.id)
    ttl_before = gateway_redis.pttl(key)
    gateway_redis.persist(key)  # a write (SET ... EX) would give it a TTL again

    done = store.update(transfer.id, lambda t: t.status)

    assert done is not None and done[1] == "dialing"
    assert ttl_before > 0 and gateway_redis.ttl(key) == -1


def test_a_redis_that_does_not_answer_reaches_the_flow_as_state_unavailable() -> None:
    store = TransferStore(redis_client("redis://127.0.0.1:1/0"))  # nothing listens on port 1

    with pytest.raises(StateUnavailable):
        store.get("tr_0000000000000000")
    with pytest.raises(StateUnavailable):
        store.update("tr_0000000000000000", lambda t: t.note(0.0, "x"))


def test_a_status_changes_only_as_the_transition_table_allows() -> None:
    transfer = a_transfer(status=TransferStatus.PENDING)
    move(transfer, TransferStatus.DIALING)
    move(transfer, TransferStatus.CONNECTED)
    assert transfer.status == TransferStatus.CONNECTED

    with pytest.raises(IllegalTransition):
        move(transfer, TransferStatus.DIALING)  # a connected caller is never rung for again
    attempt = Attempt("kc-kansas", AttemptStatus.FAILED, "busy")
    with pytest.raises(IllegalTransition):
        move(attempt, AttemptStatus.ACCEPTED)  # a failed attempt stays failed
    escalation = Escalation(1, "key", 0.0)
    with pytest.raises(IllegalTransition):
        move(escalation, AttemptStatus.JOINED)  # another machine's status, equal as a string
    assert (transfer.status, attempt.status, escalation.status) == (
        TransferStatus.CONNECTED,
        AttemptStatus.FAILED,
        EscalationStatus.DIALING,
    )


def test_statuses_read_back_from_the_live_state_are_enums_again() -> None:
    transfer = a_transfer(attempts=[Attempt("kc-kansas")], escalation=Escalation(1, "api", 0.0))

    again = Transfer.from_json(transfer.to_json())

    assert type(again.status) is TransferStatus
    assert type(again.attempts[0].status) is AttemptStatus
    assert again.escalation is not None and type(again.escalation.status) is EscalationStatus
