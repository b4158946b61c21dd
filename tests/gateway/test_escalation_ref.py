"""The escalation reference a 911 leg's webhook URLs carry (issue 11: restart at escalation)."""

from __future__ import annotations

import pytest

from gateway.services.escalation import EscalationRef


def test_a_well_formed_reference_is_read_back_from_the_query_it_writes() -> None:
    ref = EscalationRef(2, 1)

    assert EscalationRef.from_query({str(k): str(v) for k, v in ref.query().items()}) == ref


@pytest.mark.parametrize(
    "query",
    [{}, {"s": "x", "n": "0"}, {"s": "0", "n": "0"}, {"s": "1", "n": "-1"}, {"s": "9" * 5000}],
)
def test_a_missing_or_malformed_reference_is_unknown_and_keys_nothing(
    query: dict[str, str],
) -> None:
    ref = EscalationRef.from_query(query)

    assert ref == EscalationRef()
    assert ref.query() == {}
