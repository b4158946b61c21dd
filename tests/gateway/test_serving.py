"""The web process's gunicorn hooks, and that the Procfile loads them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
