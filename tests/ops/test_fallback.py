"""`gateway fallback-twiml`: the static document for Twilio's fallback URL."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from gateway.cli import main
from gateway.ops_cli import fallback_twiml


def test_the_fallback_twiml_keeps_the_leg_with_911_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fallback-twiml"]) == 0
    assert capsys.readouterr().out == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say>The 9 8 8 transfer service is '
        "not available right now. The caller was not transferred. 9 1 1 stays on the line "
        "with the caller. You may hang up this line when ready.</Say>"
        '<Pause length="14400" /></Response>\n'
    )


def test_the_fallback_twiml_names_no_gateway_url_and_never_hangs_up() -> None:
    root = ET.fromstring(str(fallback_twiml()))
    assert [child.tag for child in root] == ["Say", "Pause"]
    assert "http" not in str(fallback_twiml())
