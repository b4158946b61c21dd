"""Derive, from Twilio's published API definition, the facts the simulator's REST API must match.

    python scripts/derive_twilio_api_facts.py ../shared/reference/twilio/twilio_api_v2010.json

reads Twilio's `twilio-oai` OpenAPI description of the 2010-04-01 API and writes
tests/carrier_sim/twilio_api_facts.json: for each Calls, Conferences and Participants
operation the simulator serves, its success status code and the resource it answers with;
for each resource, its properties with their type, nullability, pattern (SID formats),
format and enum. Only these facts go into the repository, never the definition itself.
tests/carrier_sim/test_conformance.py checks every JSON response against them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "tests" / "carrier_sim" / "twilio_api_facts.json"
PREFIX = "/2010-04-01/Accounts/{AccountSid}"
# The operations the simulator serves (docs/simulator.md), by path under the account.
PATHS = (
    "/Calls.json",
    "/Calls/{Sid}.json",
    "/Conferences.json",
    "/Conferences/{Sid}.json",
    "/Conferences/{ConferenceSid}/Participants.json",
    "/Conferences/{ConferenceSid}/Participants/{CallSid}.json",
)
SERVED = {
    "/Calls.json": ("post",),
    "/Calls/{Sid}.json": ("get", "post", "delete"),
    "/Conferences.json": ("get",),
    "/Conferences/{Sid}.json": ("get", "post"),
    "/Conferences/{ConferenceSid}/Participants.json": ("get", "post"),
    "/Conferences/{ConferenceSid}/Participants/{CallSid}.json": ("get", "post", "delete"),
}
KEPT = ("type", "nullable", "pattern", "format", "enum", "minLength", "maxLength")


def derive(definition: dict[str, Any]) -> dict[str, Any]:
    """The facts: operations (status, resource, list key) and resources (properties)."""
    schemas = definition["components"]["schemas"]
    resources: dict[str, dict[str, Any]] = {}
    operations: dict[str, dict[str, Any]] = {}
    for path in PATHS:
        item = definition["paths"][PREFIX + path]
        for method in SERVED[path]:
            operations[f"{method.upper()} {path}"] = _operation(item[method], schemas, resources)
    return {
        "source": "twilio-oai twilio_api_v2010.json, "
        f"info.version {definition['info'].get('version', '?')}",
        "operations": operations,
        "resources": resources,
    }


def _operation(
    operation: dict[str, Any], schemas: dict[str, Any], resources: dict[str, Any]
) -> dict[str, Any]:
    ((status, response),) = operation["responses"].items()
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    fact: dict[str, Any] = {"status": int(status)}
    if schema is None:
        return fact
    if "$ref" in schema:
        fact["resource"] = _resource(schema["$ref"], schemas, resources)
        return fact
    # A list: Twilio's paging envelope around an array of one resource.
    envelope = dict(schema["properties"])
    (key,) = [name for name, prop in envelope.items() if prop.get("type") == "array"]
    fact["list"] = key
    fact["resource"] = _resource(envelope.pop(key)["items"]["$ref"], schemas, resources)
    fact["envelope"] = {name: _property(prop, schemas) for name, prop in envelope.items()}
    return fact


def _resource(ref: str, schemas: dict[str, Any], resources: dict[str, Any]) -> str:
    name = ref.rsplit("/", 1)[-1]
    short = name.rsplit(".", 1)[-1]
    if short not in resources:
        properties = schemas[name]["properties"]
        resources[short] = {key: _property(prop, schemas) for key, prop in properties.items()}
    return short


def _property(prop: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:  # an enum, e.g. call_enum_status
        # OpenAPI 3.0 ignores a $ref's siblings, so the definition cannot mark an enum
        # nullable; its descriptions do (reason_conference_ended is null while in progress).
        prop = {**schemas[prop["$ref"].rsplit("/", 1)[-1]], "nullable": True}
    return {key: prop[key] for key in KEPT if key in prop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("definition", type=Path, help="twilio_api_v2010.json")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    facts = derive(json.loads(args.definition.read_text(encoding="utf-8")))
    args.output.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
