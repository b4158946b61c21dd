"""The admin in a real browser: Playwright's Python package driving Debian's Chromium.

The browser and the screenshots folder are tests/browser.py's (fixtures in tests/conftest.py);
`SCREENSHOTS_DIR=docs/img` refreshes the screenshots in docs/routing-tables.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from gateway.settings import Settings
from gateway.tables import web
from gateway.tables.service import TableVersions
from routing.counties import CountyLayer
from routing.engine import Router, Snapshot
from routing.index import CountyIndex
from routing.tables import DEFAULT_TABLES_DIR, load_tables
from tests.browser import served, shoot

KEY = "browser-admin-key-0123456789"


@pytest.fixture
def admin_url(
    tmp_path: Path, county_layer: CountyLayer, county_index: CountyIndex
) -> Iterator[tuple[str, TableVersions]]:
    """The admin on a real HTTP server bound to 127.0.0.1, with one published version."""
    from gateway.adapters.store.db import create_store_engine
    from gateway.adapters.store.schema import migrate

    engine = create_store_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    migrate(engine)
    versions = TableVersions(engine, county_layer)
    versions.publish_folder(DEFAULT_TABLES_DIR, "setup", "the sample tables")
    app = Flask(__name__)
    router = Router(
        Snapshot(county_layer, county_index, load_tables(DEFAULT_TABLES_DIR, county_layer))
    )
    web.init_app(app, Settings(admin_api_keys={KEY: "alice"}), router, versions)
    try:
        with served(app) as base:
            yield f"{base}/admin/", versions
    finally:
        engine.dispose()


def test_an_administrator_edits_hours_publishes_rolls_back_and_reads_the_map(
    browser: Browser, admin_url: tuple[str, TableVersions], shots: Path
) -> None:
    url, versions = admin_url
    first = versions.active_id()
    page = browser.new_page(viewport={"width": 1100, "height": 900})

    page.goto(url)
    shoot(page, shots, "admin-sign-in")
    page.get_by_label("Administrator key").fill(KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as alice")).to_be_visible()

    page.get_by_role("link", name="Centers").click()
    page.get_by_role("link", name="Sample Prairie Nation Crisis Line").click()
    page.get_by_label("Hours").fill("mon-fri 08:00-25:00")
    page.get_by_role("button", name="Save in the draft").click()
    error = page.locator("#hours-error")
    expect(error).to_have_text("'25:00' is not a time of day (00:00 to 24:00)")
    expect(page.get_by_label("Hours")).to_have_attribute("aria-invalid", "true")
    shoot(page, shots, "admin-inline-error")

    page.get_by_label("Hours").fill("mon-fri 08:00-18:00")
    page.get_by_label("Holidays").fill("2026-12-25 Christmas Day: closed")
    page.get_by_role("button", name="Save in the draft").click()
    expect(page.get_by_role("status")).to_contain_text("Saved Sample Prairie Nation Crisis Line")

    page.get_by_role("link", name="Publish", exact=True).click()
    expect(page.get_by_text("center prairie-nation: changed")).to_be_visible()
    page.get_by_label("Why (goes into the audit log)").fill("Open until 18:00; closed at Christmas")
    shoot(page, shots, "admin-publish")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Published version")
    second = versions.active_id()
    assert second != first

    page.get_by_label("Why roll back").fill("Hours not agreed with the center yet")
    shoot(page, shots, "admin-history")
    page.get_by_role("button", name=f"Roll back to {first}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Version {first} is active again")
    assert versions.active_id() == first

    page.get_by_role("link", name="Coverage map").click()
    wyandotte = page.locator('path.county[data-fips="20209"] title')
    expect(wyandotte).to_have_text("Wyandotte County, KS (20209): Sample KC Kansas Crisis Line")
    assert page.locator("path.county").count() == 220
    shoot(page, shots, "admin-coverage")

    page.get_by_role("link", name="Catchments").click()
    page.get_by_role("link", name="Sample Prairie Nation Reservation").click()
    alt = "Coverage map of the draft with the overlay Sample Prairie Nation Reservation"
    preview = page.get_by_role("img", name=alt)
    expect(preview).to_be_visible()
    assert preview.evaluate("image => image.naturalWidth") > 0  # the SVG loaded under the CSP
    page.close()
