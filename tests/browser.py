"""Real browsers for the browser tests: Playwright's Python package driving Debian's Chromium.

`make test` installs Chromium (apt) when /usr/bin/chromium is missing; without it the browser
tests fail with a message saying so, never skip, and Playwright never downloads a browser of
its own. The fixtures built on these (`browser`, `shots`) are in tests/conftest.py.

Screenshots go to tmp, or to SCREENSHOTS_DIR when it is set: `SCREENSHOTS_DIR=docs/img`
refreshes the ones in docs/ (routing-tables.md, reports.md).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, closed at the end."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium) or "
            "`apt-get install -y chromium`"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """`app` on a real HTTP server bound to 127.0.0.1; yields its base URL (no final /)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def screenshots_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(page: Page, folder: Path, name: str, full_page: bool = True) -> None:
    """Save `name`.png: the whole page, or only what the viewport shows."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)
