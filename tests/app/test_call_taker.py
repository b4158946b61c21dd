"""The call-taker page: served safely, wired to elements that exist, and what its logic
sends is what the API accepts. The logic itself is tested under Node (tests/web)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.app.harness import GATEWAY_NUMBER, WYANDOTTE_KEY, Harness

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "gateway" / "static" / "call-taker"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("Node.js is needed to test the call-taker page's logic (node not found)")
    return found


def test_the_page_is_served_with_a_strict_content_security_policy(harness: Harness) -> None:
    page = harness.client().get("/call-taker")

    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.get_data(as_text=True)  # no inline script to allow


def test_every_file_the_page_loads_is_served_as_what_it_is(harness: Harness) -> None:
    html = (PAGE / "index.html").read_text()
    scripts = [ROOT / "gateway" / "static" / "call-taker" / "app.mjs"]
    imported = re.findall(r'from "\./([\w.]+)"', scripts[0].read_text())
    linked = re.findall(r'(?:src|href)="(/call-taker/static/[\w.]+)"', html)
    paths = {*linked, *(f"/call-taker/static/{name}" for name in imported)}

    assert paths == {
        "/call-taker/static/style.css",
        "/call-taker/static/app.mjs",
        "/call-taker/static/transfer.mjs",
    }
    for path in paths:
        answer = harness.client().get(path)
        assert answer.status_code == 200, path
        expected = "text/css" if path.endswith(".css") else "text/javascript"
        assert answer.mimetype == expected, path


def test_every_element_and_field_the_script_uses_is_on_the_page() -> None:
    html = (PAGE / "index.html").read_text()
    script = (PAGE / "app.mjs").read_text()
    ids = set(re.findall(r'id="([\w-]+)"', html))
    names = set(re.findall(r'name="([\w]+)"', html))

    used_ids = set(re.findall(r'\$\("([\w-]+)"\)', script))
    used_names = set(re.findall(r'value\("([\w]+)"\)', script))
    used_names |= set(re.findall(r"elements\.([a-z_]+)", script))
    assert used_ids and used_ids <= ids, used_ids - ids
    assert used_names and used_names <= names, used_names - names


def test_a_psap_key_gets_its_call_types_partners_and_number(harness: Harness) -> None:
    answer = harness.client().get(
        "/api/v1/psap", headers={"Authorization": f"Bearer {WYANDOTTE_KEY}"}
    )

    assert answer.status_code == 200
    profile = answer.get_json()
    assert profile["psap"] == {"id": "wyandotte-911", "name": "Sample Wyandotte County 911"}
    assert profile["conference_number"] == GATEWAY_NUMBER
    assert profile["call_types"]["emotional-distress"] == ["low", "mild"]
    assert profile["call_types"]["mental-health-information"] == ["low"]
    assert [p["center_id"] for p in profile["partners"]] == ["kc-kansas", "spanish-line"]
    assert harness.client().get("/api/v1/psap").status_code == 401


def page_request(fields: dict[str, Any]) -> Any:
    """The body the page's own logic builds from these form fields, run under Node."""
    script = (
        'import {requestBody} from "./gateway/static/call-taker/transfer.mjs";'
        "console.log(JSON.stringify(requestBody(JSON.parse(process.argv[1]))));"
    )
    done = subprocess.run(
        [node(), "--input-type=module", "-e", script, json.dumps(fields)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    "location",
    [
        {"locationKind": "point", "lat": "39.1141", "lon": "-94.6275", "radius": "50"},
        {"locationKind": "address", "house_number": "701", "street": "N 7th St",
         "city": "Kansas City", "county": "Wyandotte", "state": "ks"},
        {"locationKind": "zip", "zip": "66101"},
        {"locationKind": "area"},
    ],
)  # fmt: skip
def test_what_the_page_sends_registers_a_transfer_to_the_kansas_center(
    harness: Harness, location: dict[str, str]
) -> None:
    fields = {
        "risk": "mild",
        "callType": "emotional-distress",
        "consent": True,
        "callback": "(816) 555-0123",
        "summary": "Overwhelmed after losing a job.",
        **location,
    }

    answer = harness.post_json("/api/v1/transfers", page_request(fields))

    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["center"]["id"] == "kc-kansas"


def test_the_pages_logic_passes_its_own_tests_under_node() -> None:
    done = subprocess.run(
        [node(), "--test", "tests/web/"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout
