"""The webhook sender process: load runs send and time webhooks outside the simulator."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from carrier_sim.sender import ProcessTransport
from carrier_sim.webhooks import HTTP_RETRIEVAL_FAILURE, HTTP_TIMEOUT
from tests.carrier_sim.conftest import Received


def test_a_request_goes_out_from_the_child_and_its_answer_and_timing_come_back(
    served: tuple[str, Received, dict[str, Any]],
) -> None:
    url, seen, _ = served
    transport = ProcessTransport(threads=4)
    try:
        result = transport.send(
            "POST", f"{url}/voice?t=tr_1", {"Digits": "1#"}, {"X-Twilio-Signature": "s="}, (5, 15)
        )
    finally:
        transport.close()

    assert result.ok and result.body == "<Response><Say>Grüß Gott</Say></Response>"
    assert result.content_type == "text/xml" and 0 < result.elapsed < 5
    ((method, path, form, headers),) = seen
    assert (method, path, form) == ("POST", "/voice?t=tr_1", {"Digits": "1#"})
    assert headers["X-Twilio-Signature"] == "s="
    assert transport.cpu_s > 0  # the child's own CPU, for the load report


def test_requests_from_many_threads_are_in_flight_together_in_the_child(
    served: tuple[str, Received, dict[str, Any]],
) -> None:
    url, seen, behaviour = served
    behaviour["delay"] = 0.5
    transport = ProcessTransport(threads=8)
    results = []

    def send(i: int) -> None:
        results.append(transport.send("POST", f"{url}/voice", {"i": str(i)}, {}, (5, 15)))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        took = time.monotonic() - started
    finally:
        transport.close()

    assert len(results) == 8 and all(r.ok for r in results)
    assert sorted(int(form["i"]) for _, _, form, _ in seen) == list(range(8))
    # One at a time, the 8 answers of 0.5 s each would take 4 s.
    assert took < 2.0


def test_twilios_limits_apply_in_the_child(served: tuple[str, Received, dict[str, Any]]) -> None:
    url, _, behaviour = served
    behaviour["delay"] = 1.0
    transport = ProcessTransport(threads=1)
    try:
        result = transport.send("POST", f"{url}/voice", {}, {}, (5, 0.2))
    finally:
        transport.close()

    assert (result.status, result.error_code) == (0, HTTP_TIMEOUT)


def test_a_child_that_dies_fails_the_waiting_and_later_requests_instead_of_hanging(
    served: tuple[str, Received, dict[str, Any]],
) -> None:
    url, _, behaviour = served
    behaviour["delay"] = 3.0
    transport = ProcessTransport(threads=2)
    waiting: list[Any] = []
    thread = threading.Thread(
        target=lambda: waiting.append(transport.send("POST", f"{url}/voice", {}, {}, (5, 15)))
    )
    thread.start()
    try:
        os.kill(transport.pid, signal.SIGKILL)
        thread.join(timeout=10)
        later = transport.send("POST", f"{url}/voice", {}, {}, (5, 15))
    finally:
        transport.close()

    assert not thread.is_alive()
    assert [r.error_code for r in waiting] == [HTTP_RETRIEVAL_FAILURE]
    assert later.error_code == HTTP_RETRIEVAL_FAILURE and "sender" in later.error
