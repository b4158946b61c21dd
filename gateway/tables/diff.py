"""What changed between two table sets, entry by entry, in lines an administrator reads.

Each YAML file is compared entry by entry: centers and PSAPs by id, partnerships by PSAP and
center, catchments by center (and position, as a center may have several), overlays by id,
area codes and specialty lines by key. A changed entry lists each changed field with its old
and new value. Overlay files are compared whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class Change:
    """One changed entry: `kind` is "added", "removed" or "changed"; `fields` say how."""

    file: str
    entry: str
    kind: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = f"{self.file}: {self.entry}: {self.kind}"
        return "\n".join([head, *(f"    {f}" for f in self.fields)])


def diff(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> list[Change]:
    """Every change from `old` to `new` (both as relative path -> content), file by file."""
    changes: list[Change] = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None or after is None:
            changes.append(Change(name, "file", "added" if before is None else "removed"))
        elif name.endswith((".yaml", ".yml")):
            changes.extend(_entries_diff(name, _entries(before), _entries(after)))
        else:
            changes.append(Change(name, "file", "changed"))
    return changes


def _entries(content: bytes) -> dict[str, object]:
    """Entry label -> value, for every entry of a (validated) table file."""
    data = yaml.safe_load(content) or {}
    entries: dict[str, object] = {}
    for section, value in data.items() if isinstance(data, Mapping) else ():
        if isinstance(value, list):
            for index, item in enumerate(value, 1):
                entries[_label(section, item, index, entries)] = item
        elif isinstance(value, Mapping):
            for key, item in value.items():
                entries[f"{section} {key}"] = item
        else:
            entries[section] = value
    return entries


def _label(section: str, item: object, index: int, seen: Mapping[str, object]) -> str:
    fields = item if isinstance(item, Mapping) else {}
    noun = section.rstrip("s")
    if "id" in fields:
        return f"{noun} {fields['id']}"
    if "psap" in fields and "center" in fields:
        return f"{noun} {fields['psap']} -> {fields['center']}"
    label = f"{noun} of {fields.get('center', '?')}"
    # A center's second catchment is told apart from its first by its place among them.
    n = sum(1 for key in seen if key == label or key.startswith(label + " #"))
    return label if n == 0 else f"{label} #{n + 1}"


def _entries_diff(file: str, old: Mapping[str, object], new: Mapping[str, object]) -> list[Change]:
    changes = []
    for label in [*old, *(k for k in new if k not in old)]:
        if label not in new:
            changes.append(Change(file, label, "removed"))
        elif label not in old:
            changes.append(Change(file, label, "added", (_show(new[label]),)))
        elif old[label] != new[label]:
            changes.append(Change(file, label, "changed", _field_changes(old[label], new[label])))
    return changes


def _field_changes(old: object, new: object) -> tuple[str, ...]:
    if not (isinstance(old, Mapping) and isinstance(new, Mapping)):
        return (f"{_show(old)} -> {_show(new)}",)
    keys = [*old, *(k for k in new if k not in old)]
    return tuple(
        f"{key}: {_show(old.get(key))} -> {_show(new.get(key))}"
        for key in keys
        if old.get(key) != new.get(key)
    )


def _show(value: object) -> str:
    if value is None:
        return "(none)"
    return json.dumps(value, default=str, ensure_ascii=False, separators=(", ", ": "))
