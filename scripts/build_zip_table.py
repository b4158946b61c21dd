"""Derive the ZIP code table the routing core ships from the zipcodes package.

`zipcodes` keeps about 50 MB of dictionaries in memory once loaded and knows counties only
by name. This script writes a compact table (routing/data/zips.tsv.gz) with each ZIP's
county FIPS code already resolved against the shipped county layer:

    .venv/bin/python scripts/build_zip_table.py routing/data/zips.tsv.gz

A name the layer does not know ("Oglala Lakota" under an older name, say) is resolved by the
ZIP's centre point instead; ZIPs with no location (overseas military mail) are kept without one.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import zipcodes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from routing.counties import load_layer
from routing.index import NO_COUNTY, CountyIndex

HEADER = "zip\tstate\tcounty_fips\tcounty_name\tcity\tlat\tlon\tarea_codes"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    layer = load_layer()
    index = CountyIndex(layer)
    lines, by_point, unplaced = [HEADER], 0, 0
    for record in sorted(zipcodes.list_all(), key=lambda r: str(r["zip_code"])):
        lat, lon = float(record["lat"] or 0), float(record["long"] or 0)
        if lat == 0.0 or lon == 0.0:
            # Overseas military and diplomatic mail sits at 0,0: kept, without a place, so a
            # lookup can say why it cannot locate the caller.
            lines.append(f"{record['zip_code']}\t{record['state']}\t\t\t{record['city']}\t\t\t")
            continue
        county = layer.find_by_name(record["state"], record["county"] or "")
        if county is None:
            found = index.locate(lon, lat)
            county = layer.counties[found] if found != NO_COUNTY else None
            by_point += county is not None
            unplaced += county is None
        fields = [
            record["zip_code"],
            record["state"],
            county.fips if county else "",
            county.name if county else (record["county"] or ""),
            record["city"] or "",
            f"{lat:.4f}",
            f"{lon:.4f}",
            ",".join(record.get("area_codes") or ()),
        ]
        lines.append("\t".join(str(f).replace("\t", " ") for f in fields))
    with gzip.open(args.output, "wt", encoding="utf-8", compresslevel=9) as out:
        out.write("\n".join(lines) + "\n")
    print(
        f"wrote {len(lines) - 1} ZIP codes to {args.output} "
        f"({by_point} placed by their centre point, {unplaced} in no county)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
