"""Writes one benchmark's section of docs/benchmarks.md, leaving the others as they are."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(name: str, title: str, report: str) -> None:
    """Replace the text between `<!-- name:begin -->` and `<!-- name:end -->`, or append it."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n"
    block = f"{begin}\n{report}\n{end}"
    if begin in text:
        pattern = re.escape(begin) + ".*?" + re.escape(end)
        text = re.sub(pattern, lambda _: block, text, flags=re.S)
    else:
        text += f"\n## {title}\n\n{block}\n"
    RESULTS.write_text(text, encoding="utf-8")
