"""The administrators' shared draft: the active version's files, edited entry by entry.

Edits are checked as the whole set would be on publish, and each problem of the entry being
edited is shown on its field; the draft is saved only when the entry has none. Saving
rewrites the YAML file from its data, so comments in an edited file are not kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy.orm import Session

from gateway.adapters.store.models import TableDraft
from gateway.tables.service import TableVersions, VersionError
from routing.errors import TablesInvalid

DRAFT = "draft"
CENTERS = "centers.yaml"
CENTER_FIELDS = (
    "name",
    "number",
    "timezone",
    "hours",
    "holidays",
    "closures",
    "languages",
    "ring_timeout_seconds",
    "backups",
)
_HOLIDAY_LINE = re.compile(r"\s*(\S+)\s+(.+?)\s*:\s*(.+?)\s*")
_CLOSURE_LINE = re.compile(r"\s*(\S+ \S+)\s+to\s+(\S+ \S+)\s*:\s*(.+?)\s*")


@dataclass(frozen=True)
class Draft:
    base_version: str
    files: Mapping[str, bytes]
    updated_by: str
    updated_at: datetime


@dataclass
class CenterForm:
    """A center as the form shows it: every field as text, and problems by field."""

    id: str
    values: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)
    elsewhere: list[str] = field(default_factory=list)  # problems of other entries


def load_draft(versions: TableVersions, by: str) -> Draft:
    """The draft, started from the active version when there is none."""
    with Session(versions.engine) as session:
        row = session.get(TableDraft, DRAFT)
        if row is not None:
            files = {k: v.encode() for k, v in row.files.items()}
            return Draft(row.base_version, files, row.updated_by, row.updated_at)
    active = versions.active_id()
    if active is None:
        raise VersionError("nothing is published yet: publish a first version from the CLI")
    return Draft(active, versions.files(active), by, versions.clock())


def save_draft(versions: TableVersions, draft: Draft, files: Mapping[str, bytes], by: str) -> None:
    with Session(versions.engine) as session, session.begin():
        row = session.get(TableDraft, DRAFT) or TableDraft(name=DRAFT)
        row.base_version, row.updated_by, row.updated_at = draft.base_version, by, versions.clock()
        row.files = {k: v.decode() for k, v in files.items()}
        session.merge(row)


def discard_draft(versions: TableVersions) -> None:
    with Session(versions.engine) as session, session.begin():
        row = session.get(TableDraft, DRAFT)
        if row is not None:
            session.delete(row)


def centers_of(files: Mapping[str, bytes]) -> list[dict[str, object]]:
    data = yaml.safe_load(files[CENTERS]) or {}
    centers = data.get("centers", [])
    return [c for c in centers if isinstance(c, dict)]


def center_form(files: Mapping[str, bytes], center_id: str) -> CenterForm | None:
    """The form of one center of the draft, or None when it has no such center."""
    entry = next((c for c in centers_of(files) if c.get("id") == center_id), None)
    if entry is None:
        return None
    return CenterForm(center_id, {name: _text(name, entry.get(name)) for name in CENTER_FIELDS})


def edit_center(files: Mapping[str, bytes], form: CenterForm) -> dict[str, bytes] | None:
    """The draft's files with the center replaced by the form's values; None (and the form's
    errors set) when the center would have problems."""
    entry = _entry(form)
    if form.errors:
        return None
    data = yaml.safe_load(files[CENTERS])
    data["centers"] = [entry if c.get("id") == form.id else c for c in data["centers"]]
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return {**files, CENTERS: text.encode()}


def place_problems(form: CenterForm, problems: TablesInvalid) -> None:
    """Put each problem of the set on the form's field it names, or among `elsewhere`."""
    label = f"center {form.id}"
    for p in problems.problems:
        name, _, reason = p.reason.partition(": ")
        if p.file == CENTERS and p.entry == label and name in CENTER_FIELDS:
            form.errors.setdefault(name, []).append(reason)
        elif p.file == CENTERS and p.entry == label:
            form.errors.setdefault("", []).append(p.reason)
        else:
            form.elsewhere.append(str(p))


def _entry(form: CenterForm) -> dict[str, object]:
    """The YAML entry of the form's center; form-level mistakes go into `form.errors`."""
    v = form.values
    entry: dict[str, object] = {"id": form.id, "name": v["name"], "number": v["number"]}
    entry["timezone"] = v["timezone"]
    entry["hours"] = v["hours"]
    holidays = _lines(form, "holidays", _HOLIDAY_LINE, "2026-12-25 Christmas Day: closed")
    if holidays:
        entry["holidays"] = [{"date": d, "name": n, "hours": h} for d, n, h in holidays]
    closures = _lines(
        form, "closures", _CLOSURE_LINE, "2026-12-01 08:00 to 2026-12-01 12:00: new phones"
    )
    if closures:
        entry["closures"] = [{"from": a, "until": b, "reason": r} for a, b, r in closures]
    if v["languages"].strip():
        entry["languages"] = [x.strip() for x in v["languages"].split(",") if x.strip()]
    if v["ring_timeout_seconds"].strip():
        entry["ring_timeout_seconds"] = _whole(form, v["ring_timeout_seconds"])
    entry["backups"] = [x.strip() for x in v["backups"].split(",") if x.strip()]
    return entry


def _lines(
    form: CenterForm, name: str, pattern: re.Pattern[str], example: str
) -> list[tuple[str, ...]]:
    rows = []
    for line in form.values[name].splitlines():
        if not line.strip():
            continue
        match = pattern.fullmatch(line)
        if match is None:
            form.errors.setdefault(name, []).append(f"'{line.strip()}': write it as {example}")
        else:
            rows.append(match.groups())
    return rows


def _whole(form: CenterForm, text: str) -> object:
    try:
        return int(text)
    except ValueError:
        form.errors.setdefault("ring_timeout_seconds", []).append(
            f"'{text}' is not a whole number of seconds"
        )
        return text


def _text(name: str, value: object) -> str:
    """A field's YAML value as the form shows it."""
    if value is None:
        return ""
    if name == "hours" and isinstance(value, Mapping):
        return "; ".join(
            f"{days} {', '.join(r) if isinstance(r, list) else r}" for days, r in value.items()
        )
    if name == "holidays" and isinstance(value, list):
        return "\n".join(f"{h.get('date')} {h.get('name')}: {h.get('hours')}" for h in value)
    if name == "closures" and isinstance(value, list):
        return "\n".join(f"{c.get('from')} to {c.get('until')}: {c.get('reason')}" for c in value)
    if isinstance(value, list):
        return ", ".join(str(x) for x in value)
    return str(value)


# -- partnerships: the decision matrix as a grid of call type x risk ---------------------------

PARTNERSHIPS = "partnerships.yaml"
GRID_RISKS = ("low", "mild")
"""The risks a matrix may allow; moderate and higher always stay with 911."""


@dataclass
class MatrixForm:
    """One partnership's decision matrix: call type -> allowed risks, and the grid's rows."""

    psap: str
    center: str
    allowed: dict[str, list[str]]
    call_types: list[str]
    errors: list[str] = field(default_factory=list)


def partnerships_of(files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    if PARTNERSHIPS not in files:
        return []
    data = yaml.safe_load(files[PARTNERSHIPS]) or {}
    return [p for p in data.get("partnerships", []) if isinstance(p, dict)]


def matrix_form(files: Mapping[str, bytes], psap: str, center: str) -> MatrixForm | None:
    """The grid of one partnership of the draft; its rows are every call type of the set."""
    rows = partnerships_of(files)
    entry = next((p for p in rows if p.get("psap") == psap and p.get("center") == center), None)
    if entry is None:
        return None
    allowed = {str(k): list(v) for k, v in _matrix(entry).items()}
    every = {str(k) for p in rows for k in _matrix(p)}
    return MatrixForm(psap, center, allowed, sorted(every | set(allowed)))


def _matrix(entry: Mapping[str, object]) -> Mapping[object, list[str]]:
    value = entry.get("call_types")
    return value if isinstance(value, Mapping) else {}


def edit_matrix(files: Mapping[str, bytes], form: MatrixForm) -> dict[str, bytes] | None:
    """The draft's files with the partnership's matrix replaced; None when it allows nothing."""
    if not form.allowed:
        form.errors.append(
            "allows no call type at any risk: tick at least one, or remove the partnership"
        )
        return None
    data = yaml.safe_load(files[PARTNERSHIPS])
    for entry in data["partnerships"]:
        if entry.get("psap") == form.psap and entry.get("center") == form.center:
            entry["call_types"] = form.allowed
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return {**files, PARTNERSHIPS: text.encode()}
