"""The administrators' shared draft: the active version's files, edited entry by entry.

Edits are checked as the whole set would be on publish, and each problem of the entry being
edited is shown on its field; the draft is saved only when the entry has none. Saving
rewrites the YAML file from its data, so comments in an edited file are not kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy.orm import Session

from gateway.adapters.store.models import TableDraft
from gateway.tables.service import TableVersions, VersionError
from routing.errors import TableError

DRAFT = "draft"
CENTERS = "centers.yaml"
CATCHMENTS = "catchments.yaml"
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
ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_NAMED_FIELD = re.compile(r" (?:in|for) (\w+)")
_LANGUAGE_LINE = re.compile(r"\s*(\S+?)\s*:\s*(\S+)\s*")


@dataclass(frozen=True)
class Draft:
    base_version: str
    files: Mapping[str, bytes]
    updated_by: str
    updated_at: datetime


@dataclass
class EntryForm:
    """An entry (a center, a PSAP, a catchment, an overlay, the specialty lines) as the form
    shows it: every field as text, and problems by field ("" for the entry as a whole)."""

    kind: Kind
    id: str
    values: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)
    elsewhere: list[str] = field(default_factory=list)  # problems of other entries
    new: bool = False  # to be added to the draft

    @property
    def label(self) -> str:
        """How the tables' problems name this entry."""
        if self.kind.single:
            return self.kind.noun
        if self.kind.by_position:  # catchments have no id: they are named by position
            center = self.values.get("center", "").strip()
            return f"{self.kind.noun} #{self.id}" + (f" ({center})" if center else "")
        return f"{self.kind.noun} {self.id}"


@dataclass(frozen=True)
class Kind:
    """A kind of entry a form edits: where it lives and how its fields become YAML."""

    noun: str
    file: str
    fields: tuple[str, ...]
    build: Callable[[EntryForm], dict[str, object]]
    single: bool = False  # one mapping under `noun` rather than a list of entries with ids
    by_position: bool = False  # entries without ids, found by their position from 1

    @property
    def section(self) -> str:
        return self.noun if self.single else f"{self.noun}s"


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


def entries_of(files: Mapping[str, bytes], kind: Kind) -> list[dict[str, Any]]:
    if kind.file not in files:
        return []
    rows = (yaml.safe_load(files[kind.file]) or {}).get(kind.section) or []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def entry_form(files: Mapping[str, bytes], kind: Kind, entry_id: str) -> EntryForm | None:
    """The form of one entry of the draft, or None when it has no such entry."""
    entry: object = None
    if kind.single:
        entry = (yaml.safe_load(files[kind.file]) or {}).get(kind.section) or {}
    else:
        rows = entries_of(files, kind)
        index = _index(rows, kind, entry_id)
        entry = None if index is None else rows[index]
    if not isinstance(entry, dict):
        return None
    return EntryForm(kind, entry_id, {name: _text(name, entry.get(name)) for name in kind.fields})


def new_form(kind: Kind) -> EntryForm:
    """An empty form for an entry to add; entries with ids have an id field too."""
    names = kind.fields if kind.by_position else ("id", *kind.fields)
    return EntryForm(kind, "", dict.fromkeys(names, ""), new=True)


def _index(rows: list[Any], kind: Kind, entry_id: str) -> int | None:
    if kind.by_position:
        number = int(entry_id) if entry_id.isdigit() else 0
        return number - 1 if 0 < number <= len(rows) else None
    return next((i for i, e in enumerate(rows) if e.get("id") == entry_id), None)


def edit_entry(files: Mapping[str, bytes], form: EntryForm) -> dict[str, bytes] | None:
    """The draft's files with the entry replaced by (or a new one added from) the form's
    values; None (and the form's errors set) when the form itself has mistakes."""
    kind = form.kind
    entry = kind.build(form)
    if form.errors:
        return None
    data = yaml.safe_load(files[kind.file]) or {}
    if kind.single:
        data[kind.section] = entry
    elif form.new:
        data[kind.section] = [*(data.get(kind.section) or []), entry]
        form.id = str(len(data[kind.section])) if kind.by_position else form.id
    else:
        rows = data[kind.section]
        index = _index(rows, kind, form.id)
        # Keys the form does not show (a center's national_backup) are kept as they were.
        rows[index] = {**entry, **{k: v for k, v in rows[index].items() if k not in form.values}}
    return {**files, kind.file: _dump(data)}


def remove_entry(files: Mapping[str, bytes], kind: Kind, entry_id: str) -> dict[str, bytes] | None:
    """The draft's files without the entry (and without its overlay file, if it has one);
    None when the draft has no such entry."""
    data = yaml.safe_load(files[kind.file]) or {}
    rows = data.get(kind.section) or []
    index = _index(rows, kind, entry_id)
    if index is None:
        return None
    removed = rows.pop(index)
    kept = {name: content for name, content in files.items() if name != removed.get("file")}
    return {**kept, kind.file: _dump(data)}


def _dump(data: object) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).encode()


def place_problem(form: EntryForm, p: TableError) -> None:
    """Put a problem of the set on the form's field it names, or among `elsewhere`."""
    if p.entry != form.label or p.file not in (form.kind.file, form.values.get("file")):
        form.elsewhere.append(str(p))
        return
    name, reason = _field_of(form, p.reason)
    # Problems in an overlay's own GeoJSON belong on its file (and so on the upload).
    form.errors.setdefault("file" if p.file != form.kind.file else name, []).append(reason)


def _field_of(form: EntryForm, reason: str) -> tuple[str, str]:
    """The field a problem is about ("" for the entry as a whole), and the words to show."""
    name, _, rest = reason.partition(": ")
    if name in form.values:
        return name, rest
    # Unknown ids end "in backups", "for veterans" or "for language es".
    named = _NAMED_FIELD.search(reason)
    word = named.group(1) if named else "-"
    return next((f for f in form.kind.fields if f.startswith(word)), ""), reason


def _center(form: EntryForm) -> dict[str, object]:
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
        entry["languages"] = _words(v["languages"])
    if v["ring_timeout_seconds"].strip():
        entry["ring_timeout_seconds"] = _whole(form, "ring_timeout_seconds")
    entry["backups"] = _words(v["backups"])
    return entry


def _psap(form: EntryForm) -> dict[str, object]:
    v = form.values
    entry: dict[str, object] = {"id": form.id, "name": v["name"], "numbers": _words(v["numbers"])}
    entry["escalation"] = v["escalation"]
    if v["alternates"].strip():
        entry["alternates"] = _words(v["alternates"])
    entry["counties"] = _words(v["counties"])
    entry["timezone"] = v["timezone"]
    return entry


def _specialty(form: EntryForm) -> dict[str, object]:
    entry: dict[str, object] = {}
    languages = _lines(form, "languages", _LANGUAGE_LINE, "es: spanish-line")
    if languages:
        entry["languages"] = {code: line for code, line in languages}
    if form.values["veterans"].strip():
        entry["veterans"] = form.values["veterans"].strip()
    return entry


def _catchment(form: EntryForm) -> dict[str, object]:
    v = form.values
    entry: dict[str, object] = {"center": v["center"].strip()}
    if v["state"].strip():
        entry["state"] = v["state"].strip().upper()
    for name in ("except", "counties"):
        if v[name].strip():
            entry[name] = _words(v[name])
    if v["priority"].strip():
        entry["priority"] = _whole(form, "priority")
    return entry


def _overlay(form: EntryForm) -> dict[str, object]:
    v = form.values
    entry: dict[str, object] = {"id": form.id, "name": v["name"], "center": v["center"].strip()}
    entry["file"] = v["file"].strip()
    if v["priority"].strip():
        entry["priority"] = _whole(form, "priority")
    return entry


def _words(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _lines(
    form: EntryForm, name: str, pattern: re.Pattern[str], example: str
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


def _whole(form: EntryForm, name: str) -> object:
    text = form.values[name].strip()
    try:
        return int(text)
    except ValueError:
        form.errors.setdefault(name, []).append(f"'{text}' is not a whole number")
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
    if isinstance(value, Mapping):  # the specialty lines' languages
        return "\n".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


CENTER = Kind("center", CENTERS, CENTER_FIELDS, _center)
PSAP = Kind(
    "psap",
    "psaps.yaml",
    ("name", "numbers", "escalation", "alternates", "counties", "timezone"),
    _psap,
)
CATCHMENT = Kind(
    "catchment",
    CATCHMENTS,
    ("center", "state", "except", "counties", "priority"),
    _catchment,
    by_position=True,
)
OVERLAY = Kind("overlay", CATCHMENTS, ("name", "center", "priority", "file"), _overlay)
SPECIALTY = Kind("specialty", CENTERS, ("languages", "veterans"), _specialty, single=True)


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
    new: bool = False  # not in the draft yet: saving adds it
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
    if entry is None and not _pair_exists(files, psap, center):
        return None
    allowed = {str(k): list(v) for k, v in _matrix(entry or {}).items()}
    every = {str(k) for p in rows for k in _matrix(p)}
    return MatrixForm(psap, center, allowed, sorted(every | set(allowed)), new=entry is None)


def _pair_exists(files: Mapping[str, bytes], psap: str, center: str) -> bool:
    """Whether a new partnership of these two may be started: both are in the draft."""
    psaps = {p.get("id") for p in entries_of(files, PSAP)}
    return psap in psaps and center in {c.get("id") for c in entries_of(files, CENTER)}


def remove_partnership(files: Mapping[str, bytes], psap: str, center: str) -> dict[str, bytes]:
    data = yaml.safe_load(files[PARTNERSHIPS])
    data["partnerships"] = [
        p for p in data["partnerships"] if (p.get("psap"), p.get("center")) != (psap, center)
    ]
    return {**files, PARTNERSHIPS: _dump(data)}


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
    data = yaml.safe_load(files.get(PARTNERSHIPS, b"")) or {}
    rows = data.setdefault("partnerships", [])
    if form.new:
        rows.append({"psap": form.psap, "center": form.center, "call_types": form.allowed})
    for entry in rows:
        if entry.get("psap") == form.psap and entry.get("center") == form.center:
            entry["call_types"] = form.allowed
    return {**files, PARTNERSHIPS: _dump(data)}
