"""The web process's gunicorn hooks, and that the Procfile loads them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_the_procfile_web_process_loads_the_serving_hooks() -> None:
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line[:4] == "web:")
    assert "--config python:gateway.serving" in web


def test_a_worker_that_has_loaded_the_app_freezes_it_out_of_the_cyclic_gc() -> None:
    # A fresh interpreter: freezing this one would keep the test session's garbage forever.
    script = (
        "import gc\n"
        "from gateway import serving\n"
        "assert gc.get_freeze_count() == 0\n"
        "serving.post_worker_init(None)\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, timeout=60)


def test_a_graceful_stop_still_sends_what_answered_webhooks_decided(tmp_path: Path) -> None:
    mark = tmp_path / "sent"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "AFTER_MARK": str(mark), "PYTHONPATH": str(ROOT)}
    # The configuration check at start (gateway.checks) needs these to let gunicorn start.
    env |= {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "serving-test-token"}
    command = [str(Path(sys.executable).with_name("gunicorn")), "--config"]
    command += ["python:gateway.serving", "--workers", "1", "--bind", f"127.0.0.1:{port}"]
    command += ["tests.gateway.after_app:app"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        answer = None
        for _ in range(100):
            try:
                answer = requests.post(f"http://127.0.0.1:{port}/hook", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert answer is not None and answer.text == "<Response/>"
        assert not mark.exists()  # answered before the slow work was done

        server.send_signal(signal.SIGTERM)  # what a deploy or a restart does
        server.wait(timeout=40)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert mark.read_text(encoding="utf-8") == "sent"
