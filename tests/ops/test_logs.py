"""One JSON line per request, an INFO line per transfer step, and the request id carried
into the RQ jobs a request enqueues; none of them holds personal data."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
import redis
from rq.serializers import JSONSerializer

from gateway.adapters.traced import META_REQUEST_ID, TracedQueue
from gateway.tracing import REQUEST_ID, JsonFormatter
from gateway.worker import TracedWorker
from routing.engine import Router
from tests.app.harness import ELIGIBLE, shows_a_phone_number
from tests.ops.apps import PSAP_KEY, PUBLIC_URL, migrated_sqlite, ops_app, signed

CALL_SID = "CA" + "2" * 32


def _lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[dict[str, object]]:
    formatter = JsonFormatter()
    records = [r for r in caplog.records if r.name == logger]
    return [json.loads(formatter.format(record)) for record in records]


def test_each_webhook_is_one_json_line_with_its_route_status_and_call_sid(
    router: Router, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = ops_app(router, redis_url, migrated_sqlite(tmp_path))
    form = {"CallSid": CALL_SID, "From": "+19135550120", "To": "+19135550150"}
    caplog.set_level(logging.INFO, logger="gateway")
    answer = app.test_client().post(
        "/voice", data=form, headers=signed("/voice", form), base_url=PUBLIC_URL
    )

    (line,) = _lines(caplog, "gateway.access")
    assert line["request_id"] == answer.headers["X-Request-Id"]
    assert line["route"] == "/voice" and line["method"] == "POST" and line["status"] == 200
    assert line["call_sid"] == CALL_SID
    assert isinstance(line["duration_ms"], float)
    assert not shows_a_phone_number(caplog.text)


def test_a_proxy_request_id_is_kept_and_a_malformed_one_replaced(
    router: Router, redis_url: str, tmp_path: Path
) -> None:
    client = ops_app(router, redis_url, migrated_sqlite(tmp_path))[0].test_client()
    kept = client.get("/healthz", headers={"X-Request-Id": "lb-req-00042"})
    assert kept.headers["X-Request-Id"] == "lb-req-00042"
    replaced = client.get("/healthz", headers={"X-Request-Id": "<script>alert(1)</script>"})
    assert len(replaced.headers["X-Request-Id"]) == 32


def test_each_transfer_step_is_an_info_line_under_the_request_id_without_personal_data(
    router: Router, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = ops_app(router, redis_url, migrated_sqlite(tmp_path))
    caplog.set_level(logging.INFO, logger="gateway")
    answer = app.test_client().post(
        "/api/v1/transfers", json=ELIGIBLE, headers={"Authorization": f"Bearer {PSAP_KEY}"}
    )
    assert answer.status_code == 201, answer.get_json()

    steps = _lines(caplog, "gateway.activity")
    assert [line["step"] for line in steps][:2] == ["requested", "routed"]
    assert {line["request_id"] for line in steps} == {answer.headers["X-Request-Id"]}
    assert {line["transfer_id"] for line in steps} == {answer.get_json()["transfer_id"]}
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "gateway.activity")
    text = "\n".join(json.dumps(line) for line in steps)
    assert not shows_a_phone_number(text)
    assert "losing a job" not in text and "39.1141" not in text


def test_a_job_carries_the_request_id_in_its_meta_and_the_worker_logs_it(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    connection = redis.Redis.from_url(redis_url)
    queue = TracedQueue("ops-traced-test", connection=connection, serializer=JSONSerializer)
    queue.empty()
    token = REQUEST_ID.set("req-from-the-web-0001")
    try:
        job = queue.enqueue("os.getpid")
    finally:
        REQUEST_ID.reset(token)
    assert job.meta[META_REQUEST_ID] == "req-from-the-web-0001"
    assert job.args == ()

    caplog.set_level(logging.INFO, logger="gateway")
    TracedWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)
    (line,) = _lines(caplog, "gateway.worker")
    assert line["request_id"] == "req-from-the-web-0001"
    assert line["job_id"] == job.id and line["job"] == "os.getpid"
    assert REQUEST_ID.get() is None
    queue.delete(delete_jobs=True)
    connection.close()


def test_an_error_is_logged_by_type_and_stack_without_its_message() -> None:
    record = logging.LogRecord("gateway.x", logging.ERROR, __file__, 1, "failed", (), None)
    number = "+1913555" + "0123"  # split, so the stack's source line does not show it
    try:
        int(f"call {number}")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["exc_type"] == "ValueError" and "int(" in line["stack"]
    assert "5550123" not in json.dumps(line)
