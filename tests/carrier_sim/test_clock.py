"""The virtual clock lets an application that works after answering finish first."""

from __future__ import annotations

import threading
import time

from carrier_sim.clock import Scheduler


def test_after_the_app_is_heard_from_time_waits_for_its_late_request_before_jumping() -> None:
    scheduler = Scheduler(settle_s=1.0)
    order: list[str] = []
    scheduler.call_at(30.0, lambda: order.append("hangup at 30"))
    scheduler.touch()  # a webhook was just answered at t = 0

    def late_rest_request() -> None:
        time.sleep(0.05)  # the app places its call once its response is out
        scheduler.call_soon(lambda: order.append("call placed"))

    threading.Thread(target=late_rest_request).start()
    started = time.monotonic()
    first = scheduler.next_due(until=60)
    assert first is not None
    first.action()
    waited = time.monotonic() - started

    assert order == ["call placed"]
    assert scheduler.now() == 0.0  # placed at the instant the app answered, not at 30 s
    assert waited < 1.0  # the new work ended the wait early


def test_with_nothing_heard_from_the_app_time_jumps_at_once() -> None:
    scheduler = Scheduler(settle_s=1.0)
    scheduler.call_at(30.0, lambda: None)

    started = time.monotonic()
    timer = scheduler.next_due(until=60)

    assert timer is not None and timer.when == 30.0 and scheduler.now() == 30.0
    assert time.monotonic() - started < 0.5


def test_a_quiet_app_costs_one_settle_wait_per_exchange() -> None:
    scheduler = Scheduler(settle_s=0.1)
    scheduler.call_at(30.0, lambda: None)
    scheduler.touch()

    started = time.monotonic()
    timer = scheduler.next_due(until=60)

    assert timer is not None and scheduler.now() == 30.0
    assert 0.1 <= time.monotonic() - started < 1.0
