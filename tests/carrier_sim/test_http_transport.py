"""The simulator's HTTP transport: real requests to a running app, with Twilio's limits."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from carrier_sim.webhooks import HTTP_RETRIEVAL_FAILURE, HTTP_TIMEOUT, HttpTransport
from tests.carrier_sim.conftest import Received


def test_a_post_arrives_form_encoded_with_its_headers_and_the_answer_is_read(
    served: tuple[str, Received, dict[str, Any]],
) -> None:
    url, seen, _ = served
    result = HttpTransport().send(
        "POST",
        f"{url}/voice?t=tr_1",
        {"CallSid": "CA1", "Digits": "1#"},
        {"X-Twilio-Signature": "sig=", "User-Agent": "TwilioProxy/1.1"},
        (5, 15),
    )

    assert result.ok and result.status == 200
    assert result.content_type == "text/xml"
    assert result.body == "<Response><Say>Grüß Gott</Say></Response>"
    ((method, path, form, headers),) = seen
    assert (method, path) == ("POST", "/voice?t=tr_1")
    assert form == {"CallSid": "CA1", "Digits": "1#"}
    assert headers["X-Twilio-Signature"] == "sig="
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_a_get_sends_no_body_and_keeps_the_query_string(
    served: tuple[str, Received, dict[str, Any]],
) -> None:
    url, seen, _ = served
    result = HttpTransport().send("GET", f"{url}/next?CallSid=CA1&a=b%20c", {}, {}, (5, 15))

    assert result.ok
    ((method, path, form, _),) = seen
    assert (method, path, form) == ("GET", "/next?CallSid=CA1&a=b%20c", {})


def test_an_error_status_is_a_response_not_a_transport_failure(
    served: tuple[str, Received, dict[str, Any]],
) -> None:
    url, _, behaviour = served
    behaviour["status"] = 500
    result = HttpTransport().send("POST", f"{url}/voice", {}, {}, (5, 15))

    assert (result.status, result.error_code, result.ok) == (500, 0, False)


def test_a_slow_answer_is_twilios_timeout_error(
    served: tuple[str, Received, dict[str, Any]],
) -> None:
    url, _, behaviour = served
    behaviour["delay"] = 1.0
    result = HttpTransport().send("POST", f"{url}/voice", {}, {}, (5, 0.2))

    assert (result.status, result.error_code) == (0, HTTP_TIMEOUT)
    assert 0.2 <= result.elapsed < 1.0


def test_nobody_listening_is_twilios_retrieval_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once the probe closes
    result = HttpTransport().send("POST", f"http://127.0.0.1:{port}/voice", {}, {}, (5, 15))

    assert (result.status, result.error_code) == (0, HTTP_RETRIEVAL_FAILURE)
    assert "ConnectionRefusedError" in result.error


def test_it_is_safe_to_share_between_threads(served: tuple[str, Received, dict[str, Any]]) -> None:
    url, seen, _ = served
    transport = HttpTransport()
    results = []

    def send(i: int) -> Callable[[], None]:
        return lambda: results.append(
            transport.send("POST", f"{url}/voice", {"i": str(i)}, {}, (5, 15))
        )

    threads = [threading.Thread(target=send(i)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(results) == 16 and all(r.ok for r in results)
    assert sorted(int(form["i"]) for _, _, form, _ in seen) == list(range(16))
