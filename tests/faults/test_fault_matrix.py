"""The fault matrix of issue 11: the live state's redis-server killed, restarted empty or
frozen at each step of a call (tests/faults/matrix.py plays a cell and says what it checks).

Every cell that passes is asserted here; the others are listed as open in
docs/fault-matrix.md, which must say what the cells do (`scripts/fault_matrix.py`
regenerates it). The whole matrix takes well under a minute: the call runs on the virtual
clock, and only a frozen server's timeouts take real time (each bounded by the client's
0.5-2 s timeouts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.engine import Router
from tests.faults.matrix import (
    COMMAND,
    DOC,
    FAULTS,
    HANGS_UP,
    STEPS,
    VARIANT_FAULTS,
    VARIANTS,
    Cell,
    row,
    run_cell,
    table_rows,
)

# Open cells (docs/fault-matrix.md): none left.
OPEN: set[tuple[str, str]] = set()
ASSERTED = (
    [("none", "waiting")]
    + [(fault, step) for fault in FAULTS for step in STEPS if (fault, step) not in OPEN]
    + [(fault, label) for fault in VARIANT_FAULTS for label in VARIANTS]
)
PLAYED: dict[tuple[str, str], Cell] = {}


@pytest.mark.parametrize(("fault", "step"), ASSERTED)
def test_the_caller_is_kept_and_the_record_is_true_when_redis_fails(
    fault: str, step: str, router: Router, tmp_path: Path
) -> None:
    cell = run_cell(fault, step, router, tmp_path)
    PLAYED[(fault, step)] = cell

    assert cell.violations == []
    assert cell.written == cell.emitted > 0


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("step", ["ringing", "whisper", "accept"])
def test_a_counselor_who_accepted_during_a_fault_and_hangs_up_is_not_taken_for_a_no_key(
    fault: str, step: str, router: Router, tmp_path: Path
) -> None:
    cell = run_cell(fault, step, router, tmp_path, HANGS_UP)

    assert cell.violations == []
    assert cell.written == cell.emitted > 0


def test_the_docs_table_says_what_every_cell_does() -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = table_rows(text)

    assert COMMAND in text
    assert set(rows) == set(ASSERTED) | OPEN
    for cell in PLAYED.values():  # the cells played above, if they ran in this session
        # Only pass/open: a killed server's AOF may or may not hold its last writes (the
        # everysec window), so the recorded outcome may be the true one or `unknown`.
        assert rows[(cell.fault, cell.step)].split("|")[3] == row(cell).split("|")[3]
    for key in OPEN:
        assert "**open**" in rows[key]
