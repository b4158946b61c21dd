"""The shape issue 10 asked of the code stays true as it grows (scripts/architecture.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gateway_has_no_import_cycle_no_rest_call_outside_the_port_and_small_parts() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "architecture.py")],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "import cycles: 0" in result.stdout
    assert "Twilio REST outside gateway/telephony.py: 0" in result.stdout


def test_the_carrier_simulator_has_no_class_over_300_lines_either() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "architecture.py"), "carrier_sim"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip

    assert "largest classes:" in result.stdout, result.stdout + result.stderr
    largest = int(result.stdout.split("largest classes:")[1].split("(")[1].split(" lines")[0])
    assert largest <= 300
