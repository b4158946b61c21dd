"""Derive the area code (NPA) -> state table that area-code routing compares against.

phonenumbers' geocoder knows which region each North American area code was assigned to,
but importing it costs about 100 MB and 0.3 s, for a table of a few hundred entries. This
script extracts that table once into routing/data/npa_states.json:

    .venv/bin/python scripts/build_npa_states.py routing/data/npa_states.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import phonenumbers
from phonenumbers import geocoder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from routing.states import NAME_TO_ABBR, STATES

ABBRS = {abbr for abbr, _name in STATES.values()}


def state_of(npa: int) -> str | None:
    """The USPS code of the state an NPA was assigned to, or None (Canada, Caribbean, none)."""
    for line in ("5550100", "2000000", "4560000"):
        number = phonenumbers.parse(f"+1{npa}{line}")
        if not phonenumbers.is_valid_number(number):
            continue
        region = geocoder.description_for_number(number, "en")
        state = NAME_TO_ABBR.get(region.lower())
        if state is None and ", " in region:
            state = region.rsplit(", ", 1)[1].upper()
        if state in ABBRS:
            return state
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    table = {str(npa): s for npa in range(200, 1000) if (s := state_of(npa))}
    data = {
        "source": f"phonenumbers {phonenumbers.__version__} geocoder (libphonenumber metadata)",
        "npa_states": table,
    }
    args.output.write_text(json.dumps(data, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(table)} area codes to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
