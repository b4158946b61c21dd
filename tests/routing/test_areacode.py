"""Area-code routing, as 988 does it today, computed only to compare with ours."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from routing.areacode import npa_and_state, npa_states, parse_e164
from routing.errors import RoutingError


def test_the_shipped_area_code_table_is_what_the_phonenumbers_geocoder_says_today() -> None:
    """The table is extracted once from the geocoder; a phonenumbers upgrade must not drift."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "build_npa_states.py"
    spec = importlib.util.spec_from_file_location("build_npa_states", script)
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    expected = {str(npa): s for npa in range(200, 1000) if (s := builder.state_of(npa))}
    assert npa_states() == expected
    assert len(expected) > 300


@pytest.mark.parametrize(
    ("number", "npa", "state"),
    [
        ("+18165550123", "816", "MO"),
        ("+19135550142", "913", "KS"),
        ("+12125550188", "212", "NY"),
        ("+12025550100", "202", "DC"),
        ("+33123456789", "", None),
    ],
)
def test_a_number_gives_its_area_code_and_state(number: str, npa: str, state: str | None) -> None:
    assert npa_and_state(number) == (npa, state)


@pytest.mark.parametrize("number", ["8165550123", "+1816555", "not a number", "+1 816 555 01"])
def test_a_number_not_in_e164_form_is_a_clear_error(number: str) -> None:
    with pytest.raises(RoutingError, match=r"E\.164"):
        parse_e164(number)
