"""Derive, from NENA's EIDO OpenAPI schema, the part of it the gateway's EIDO documents use.

    python scripts/derive_eido_schema.py ../shared/reference/eido/openapi.yaml

reads NENA's `EIDO-JSON` `Schema/openapi.yaml` (NENA-STA-021.1) with its NIEM components,
resolves its relative refs, and writes tests/app/eido_schema.json: the
`EmergencyIncidentDataObjectType` and every schema it reaches through the components the
gateway sends (`EMITTED`), keyed by name, with refs rewritten to point inside the file. The
other top-level components (vehicles, persons, NIEM's large vocabularies...) are dropped:
NENA's schema allows any property nobody constrains (it never says `additionalProperties`),
so dropping what we never send does not loosen the check of what we do send. Only these
facts go into the repository, never the schema files themselves.
tests/app/test_eido.py validates every document against them as OpenAPI 3.0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "tests" / "app" / "eido_schema.json"
TOP = "EmergencyIncidentDataObjectType"
# The top-level components a gateway EIDO carries (gateway/domain/eido.py).
EMITTED = (
    "incidentComponent",
    "callComponent",
    "callbackComponent",
    "agencyComponent",
    "locationComponent",
    "notesComponent",
)


class Reader:
    """Loads the schema's files once each and collects the schemas reached from the top."""

    def __init__(self, main: Path) -> None:
        self.folder = main.parent
        self.main = main.name
        self.files: dict[str, Any] = {}
        self.schemas: dict[str, Any] = {}

    def load(self, name: str) -> Any:
        if name not in self.files:
            text = (self.folder / name).read_text(encoding="utf-8")
            self.files[name] = yaml.safe_load(text)
        return self.files[name]

    def reach(self, name: str, pointer: str) -> str:
        """Copy the schema at `pointer` of file `name` (and all it refers to); its key."""
        key = self.key(name, pointer)
        if key in self.schemas:
            return key
        self.schemas[key] = {}  # claimed first: a schema may refer to itself
        node: Any = self.load(name)
        for part in pointer.strip("/").split("/"):
            node = node[part]
        self.schemas[key] = self.rewrite(name, node)
        return key

    def key(self, name: str, pointer: str) -> str:
        schema = pointer.rsplit("/", 1)[-1]
        return schema if name == self.main else f"{Path(name).stem}:{schema}"

    def rewrite(self, name: str, node: Any) -> Any:
        if isinstance(node, list):
            return [self.rewrite(name, item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for field, value in node.items():
            # A *property* may be called "$ref" (ReferenceType's): only a string is a ref.
            if field == "$ref" and isinstance(value, str):
                out[field] = "#/schemas/" + self.follow(name, value)
            elif field == "minItems" and isinstance(value, str):
                # openapi.yaml line 218 says `minItems: 1,`, which YAML reads as "1,".
                out[field] = int(value.rstrip(","))
            else:
                out[field] = self.rewrite(name, value)
        return out

    def follow(self, name: str, ref: str) -> str:
        target, _, pointer = ref.partition("#")
        if not target:
            return self.reach(name, pointer)
        file = str(Path(name).parent / target.replace("//", "/"))
        return self.reach(file, pointer)


def derive(main: Path) -> dict[str, Any]:
    reader = Reader(main)
    spec = reader.load(reader.main)
    top = spec["components"]["schemas"][TOP]
    pruned = _pruned_top(top)
    spec["components"]["schemas"][TOP] = pruned
    reader.reach(reader.main, f"/components/schemas/{TOP}")
    return {
        "source": "NENA EIDO-JSON Schema/openapi.yaml (NENA-STA-021.1), "
        f"info.version {spec['info'].get('version', '?')}; derived by "
        "scripts/derive_eido_schema.py",
        "root": TOP,
        "emitted": list(EMITTED),
        "schemas": dict(sorted(reader.schemas.items())),
    }


def _pruned_top(top: dict[str, Any]) -> dict[str, Any]:
    """The top schema with only the components the gateway sends among its properties."""
    parts = []
    for part in top["allOf"]:
        if "properties" in part:
            kept = {
                name: value
                for name, value in part["properties"].items()
                if name in EMITTED or "Component" not in name
            }
            part = {**part, "properties": kept}
        parts.append(part)
    return {**top, "allOf": parts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("openapi", type=Path, help="path to NENA's openapi.yaml")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    facts = derive(args.openapi)
    args.output.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(facts['schemas'])} schemas to {args.output}")


if __name__ == "__main__":
    main()
