"""Slow and idle clients cannot starve the webhooks of the Procfile's web process.

A real gunicorn, started as the Procfile starts it, on loopback. How fast a webhook is
answered meanwhile is measured by bench/bench_slow_clients.py (docs/benchmarks.md); these
tests check that it is answered at all while the slow clients hold their connections:
under the sync workers it was not, for as long as they kept sending.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests

from bench.bench_slow_clients import SlowClients
from gateway.web_worker import REQUEST_READ_S
from tests.ops.apps import PSAP_KEY, migrated_sqlite, signed
from tests.ops.processes import gateway_env, web_process

# Far below what starvation costs (the slow clients never stop), far above an answer on a
# busy test machine: the figure that matters (within 1 s) is the benchmark's.
ANSWERED_WITHIN_S = 5.0
FORM = {"CallSid": "CA" + "4" * 32, "From": "+19135550199", "To": "+19135550150"}


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("slow-clients")
    env = gateway_env(redis_url, migrated_sqlite(folder))
    with web_process(env, folder / "web.log") as url:
        yield url


def _signed_webhook(url: str) -> requests.Response:
    # The signature is over the URL Twilio would use; the gateway here is at `url`.
    headers = signed("/voice", FORM)
    headers["X-Forwarded-Proto"], headers["X-Forwarded-Host"] = "https", "gateway.test"
    return requests.post(f"{url}/voice", data=FORM, headers=headers, timeout=ANSWERED_WITHIN_S)


def test_webhooks_are_answered_while_50_slow_and_idle_connections_are_open(web: str) -> None:
    port = int(web.rsplit(":", 1)[1])
    with SlowClients(port, idle=25, slow=25):
        for _ in range(10):
            answer = _signed_webhook(web)
            assert answer.status_code == 200
            assert "<Gather" in answer.text


def test_a_client_that_sends_too_slowly_has_its_connection_closed(web: str) -> None:
    port = int(web.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /voice HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(0.5)
        deadline = time.monotonic() + REQUEST_READ_S + 10
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                sock.send(b"X")
                closed = sock.recv(100) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
        assert closed


def test_an_idle_connection_is_closed_and_holds_no_thread_meanwhile(web: str) -> None:
    port = int(web.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(REQUEST_READ_S + 10)
        assert sock.recv(100) == b""  # closed after --keep-alive seconds of silence


def test_a_webhook_sent_whole_is_answered_on_a_connection_kept_alive(web: str) -> None:
    with requests.Session() as session:
        for _ in range(3):
            headers = signed("/voice", FORM)
            headers["X-Forwarded-Proto"], headers["X-Forwarded-Host"] = "https", "gateway.test"
            answer = session.post(f"{web}/voice", data=FORM, headers=headers, timeout=5)
            assert answer.status_code == 200


def test_a_body_that_trickles_in_past_the_deadline_is_answered_408(web: str) -> None:
    port = int(web.rsplit(":", 1)[1])
    head = (
        "POST /api/v1/route HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: 1000\r\nAuthorization: Bearer {PSAP_KEY}\r\n\r\n{{"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode())
        sock.settimeout(0.5)
        answer = b""
        deadline = time.monotonic() + REQUEST_READ_S + 10
        while not answer and time.monotonic() < deadline:
            try:
                sock.send(b" ")
                answer = sock.recv(200)
            except TimeoutError:
                continue
    assert answer.startswith(b"HTTP/1.1 408")
