"""The routing tables administrators edit, loaded and checked as one set.

A table set is a directory (the format is explained for administrators in
config/tables/README.md):

    centers.yaml        988 centers, specialty lines and the national backup line
    catchments.yaml     which counties, and which custom areas (overlays), each center serves
    psaps.yaml          the 911 PSAPs that transfer callers
    partnerships.yaml   which call types each PSAP may transfer to each center, at which risk
    area_codes.yaml     today's area-code routing, only ever shown for comparison
    overlays/*.geojson  the custom service areas named in catchments.yaml

`load_tables` reads every file and reports every problem at once (an administrator fixes a
table set in one pass, not one error per reload). It returns a RoutingTables only when the
whole set is consistent, so the router never runs on half a table set.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import phonenumbers
import shapely
import yaml
from shapely.errors import ShapelyError
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from routing.counties import County, CountyLayer
from routing.errors import RoutingError, TableError, TablesInvalid
from routing.hours import HoursError, parse_closures, parse_holidays, parse_hours
from routing.model import (
    TRANSFERABLE_RISKS,
    Center,
    CenterShare,
    Hours,
    LocationPrecision,
    Overlay,
    Partnership,
    Psap,
    Risk,
    RoutingTables,
)
from routing.states import ABBR_TO_FIPS, state_abbr

DEFAULT_TABLES_DIR = Path(__file__).resolve().parent.parent / "config" / "tables"
"""The sample tables shipped with the gateway."""

CENTERS = "centers.yaml"
CATCHMENTS = "catchments.yaml"
PSAPS = "psaps.yaml"
PARTNERSHIPS = "partnerships.yaml"
AREA_CODES = "area_codes.yaml"
TABLE_FILES = (CENTERS, CATCHMENTS, PSAPS, PARTNERSHIPS, AREA_CODES)
REQUIRED_FILES = frozenset({CENTERS, CATCHMENTS})
OVERLAY_DIR = "overlays"

RING_TIMEOUT_DEFAULT_S = 24
"""About four rings, after which 988 itself rolls a call to backup (DOMAIN.md)."""
RING_TIMEOUT_BOUNDS_S = (5, 120)
"""Below 5 s a center cannot pick up; beyond 2 minutes the caller waits too long on one line."""

VERSION_LENGTH = 12
"""Hex digits of the sha256 digest kept as RoutingTables.version (enough to tell sets apart)."""

# Limits on what a table set may hold, so that a hostile or mistaken file is refused with a
# clear reason in about a second instead of exhausting memory or the interpreter's stack.
# Each is far above what a whole state needs (the sample's largest file is 3 KB).
MAX_TABLE_FILE_BYTES = 1_000_000
"""Per YAML file: about 7,000 centers. PyYAML reads about 200 KB a second."""
MAX_OVERLAY_FILE_BYTES = 10_000_000
"""Per GeoJSON overlay: a detailed reservation boundary is a few hundred KB."""
MAX_SET_BYTES = 50_000_000
"""Every file of a set together."""
MAX_NESTING_DEPTH = 32
"""Lists and mappings inside one another; a table needs about 6, a GeoJSON file about 8."""
MAX_YAML_ALIASES = 100
"""`*name` references in one YAML file (each may repeat a whole subtree)."""
MAX_OVERLAY_VERTICES = 250_000
"""Points in one overlay polygon; validity checks grow faster than linearly with them."""
MAX_SET_VERTICES = 1_000_000
"""Points in every overlay of a set together."""

_T = TypeVar("_T")
_ID = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_FIPS = re.compile(r"[0-9]{5}")
_NPA = re.compile(r"[2-9][0-9]{2}")
_LANGUAGE = re.compile(r"[a-z]{2}")
_CALL_TYPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


# --------------------------------------------------------------------------------------------
# Public API


def load_tables(path: Path, layer: CountyLayer) -> RoutingTables:
    """Load and validate a table set.

    Args:
        path: the table directory (usually DEFAULT_TABLES_DIR).
        layer: the county layer FIPS codes are checked against and states are expanded with.

    Returns:
        The resolved tables: every county of a configured state mapped to one center.

    Raises:
        TablesInvalid: listing every problem found, each naming its file, entry and reason.
    """
    ctx = _Context(root=path, layer=layer)
    if not path.is_dir():
        ctx.add(str(path), "directory", "not a directory of routing tables")
        raise TablesInvalid(ctx.problems)
    _check_file_names(ctx)
    centers = _read_centers(ctx)
    catchments = _read_catchments(ctx)
    psaps = _read_psaps(ctx)
    partnerships = _read_partnerships(ctx)
    area = _read_area_codes(ctx)
    _check_references(ctx, centers, psaps)
    _check_backups(ctx, centers)
    _check_language_lines(ctx, centers)
    county_centers = _resolve_counties(ctx, catchments)
    if ctx.problems:
        raise TablesInvalid(ctx.problems)
    return RoutingTables(
        centers=MappingProxyType({r.center.id: r.center for r in centers.rows if r.center}),
        national_backup=centers.national or "",
        county_centers=MappingProxyType(county_centers),
        configured_states=frozenset(catchments.states),
        overlays=tuple(sorted(catchments.overlays, key=lambda o: (-o.priority, o.id))),
        area_codes=MappingProxyType(area.area_codes),
        state_centers=MappingProxyType(area.state_centers),
        language_lines=MappingProxyType(centers.language_lines),
        veterans_line=centers.veterans_line,
        psaps=MappingProxyType({r.psap.id: r.psap for r in psaps if r.psap}),
        partnerships=MappingProxyType({(p.psap_id, p.center_id): p for p in partnerships}),
        version=_version(ctx.contents),
        source=str(path),
    )


def read_table_files(path: Path) -> dict[str, bytes]:
    """The files of the table set in `path` that `load_tables` would look at, by relative path.

    That is every YAML file at the top and every GeoJSON file in overlays/ (a misnamed
    table or an unused overlay is then reported by `load_tables`, not silently dropped).
    Other files (README.md) are left out: they do not route.

    Raises:
        TablesInvalid: `path` is not a directory, or a file is beyond its size limit.
    """
    ctx = _Context(root=path, layer=CountyLayer((), (), {}))  # no county is looked up
    if not path.is_dir():
        ctx.add(str(path), "directory", "not a directory of routing tables")
        raise TablesInvalid(ctx.problems)
    names = [p.name for p in sorted(path.iterdir()) if p.suffix in (".yaml", ".yml")]
    overlays = path / OVERLAY_DIR
    if overlays.is_dir():
        names += [
            f"{OVERLAY_DIR}/{p.name}"
            for p in sorted(overlays.iterdir())
            if p.suffix in (".geojson", ".json") and p.is_file()
        ]
    for name in names:
        limit = MAX_OVERLAY_FILE_BYTES if name.startswith(OVERLAY_DIR) else MAX_TABLE_FILE_BYTES
        _read_bounded(ctx, name, limit)
    if ctx.problems:
        raise TablesInvalid(ctx.problems)
    return ctx.contents


def load_table_files(files: Mapping[str, bytes], layer: CountyLayer, source: str) -> RoutingTables:
    """Load and validate a table set given as its files (`read_table_files`' form).

    Args:
        files: relative path -> content.
        layer: as for `load_tables`.
        source: what `RoutingTables.source` says (such as "published version 1a2b3c4d5e6f").

    Raises:
        TablesInvalid: as `load_tables`; a path leaving the set is refused too.
    """
    with tempfile.TemporaryDirectory(prefix="tables-") as folder:
        root = Path(folder)
        for name, content in files.items():
            target = (root / name).resolve()
            if not target.is_relative_to(root.resolve()) or name.count("/") > 1:
                raise TablesInvalid([TableError(name, "file", "not a path inside a table set")])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return replace(load_tables(root, layer), source=source)


def content_digest(files: Mapping[str, bytes]) -> str:
    """The sha256 of a set's files, by name; its first VERSION_LENGTH digits are its version."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class CenterCoverage:
    """What one center serves: counties (FIPS order) and the names of its custom areas."""

    center_id: str
    name: str
    counties: tuple[County, ...]
    overlays: tuple[str, ...] = ()


@dataclass(frozen=True)
class CoverageReport:
    """Who covers what, for `gateway tables coverage`.

    Attributes:
        version: the table set's version.
        state: the state the report is limited to, or None for every configured state.
        centers: centers that serve anything in scope, in table order.
        uncovered: USPS state code -> counties of that state no center serves.
    """

    version: str
    state: str | None
    centers: tuple[CenterCoverage, ...]
    uncovered: Mapping[str, tuple[County, ...]]


def coverage(tables: RoutingTables, layer: CountyLayer, state: str | None = None) -> CoverageReport:
    """Report which counties each center covers and which counties nobody covers.

    Args:
        tables: a loaded table set.
        layer: the county layer, for county names.
        state: a USPS code to limit the report to one state (it need not be configured: every
            county of an unconfigured state is then reported uncovered); None for all
            configured states.

    Raises:
        RoutingError: `state` is not a USPS state code.
    """
    if state is not None:
        state = state.upper()
        if state not in ABBR_TO_FIPS:
            raise RoutingError(f"unknown state '{state}' (use a USPS code such as KS)")
    scope = [state] if state else sorted(tables.configured_states)
    centers = tuple(
        c for c in (_center_coverage(tables, layer, cid, state) for cid in tables.centers) if c
    )
    uncovered = {
        s: tuple(c for c in layer.in_state(s) if c.fips not in tables.county_centers) for s in scope
    }
    return CoverageReport(tables.version, state, centers, MappingProxyType(uncovered))


def format_coverage(report: CoverageReport) -> str:
    """Render a coverage report as plain text, one county per line (easy to grep)."""
    scope = report.state or "all configured states"
    lines = [f"Routing tables {report.version}: coverage of {scope}"]
    for c in report.centers:
        lines.append(f"{c.name} ({c.center_id}): {_plural(len(c.counties), 'county')}")
        lines.extend(f"  {county.fips}  {county.label}" for county in c.counties)
        lines.extend(f"  overlay: {name} (takes priority over counties)" for name in c.overlays)
    lines.append("Counties no center serves:")
    for state, counties in report.uncovered.items():
        lines.append(f"  {state}: {_plural(len(counties), 'county') if counties else 'none'}")
        lines.extend(f"    {county.fips}  {county.label}" for county in counties)
    return "\n".join(lines)


def _center_coverage(
    tables: RoutingTables, layer: CountyLayer, center_id: str, state: str | None
) -> CenterCoverage | None:
    counties = sorted(
        (_county(layer, fips) for fips, cid in tables.county_centers.items() if cid == center_id),
        key=lambda c: c.fips,
    )
    counties = [c for c in counties if state is None or c.state == state]
    overlays = [
        o.name
        for o in tables.overlays
        if o.center_id == center_id and (state is None or _overlay_in_state(o, layer, state))
    ]
    if not counties and not overlays:
        return None
    name = tables.centers[center_id].name
    return CenterCoverage(center_id, name, tuple(counties), tuple(overlays))


def _county(layer: CountyLayer, fips: str) -> County:
    # A table set is validated against one layer; a report may be asked of another.
    return layer.get(fips) or County(fips, "county not in this layer", state_abbr(fips))


def _overlay_in_state(overlay: Overlay, layer: CountyLayer, state: str) -> bool:
    return any(overlay.geometry.intersects(layer.geometry(c.fips)) for c in layer.in_state(state))


def _plural(n: int, noun: str) -> str:
    return (
        f"{n} {noun}" if n == 1 else f"{n} {noun[:-1]}ies" if noun.endswith("y") else f"{n} {noun}s"
    )


# --------------------------------------------------------------------------------------------
# Reading YAML and checking fields, recording problems instead of stopping at the first


@dataclass
class _Context:
    """State of one load: where, against which layer, the problems so far, the bytes read."""

    root: Path
    layer: CountyLayer
    problems: list[TableError] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)
    vertices: int = 0  # points in every overlay read so far
    too_large: set[str] = field(default_factory=set)  # files refused unread
    unusable: set[str] = field(default_factory=set)  # files that are missing or do not parse
    center_refs: list[_Ref] = field(default_factory=list)
    psap_refs: list[_Ref] = field(default_factory=list)

    def add(self, file: str, entry: str, reason: str) -> None:
        self.problems.append(TableError(file, entry, reason))


@dataclass(frozen=True)
class _Ref:
    """A place that names a center (or PSAP) by id, checked once all ids are known."""

    file: str
    entry: str
    target: str
    where: str = ""


class _TooLarge(yaml.MarkedYAMLError):
    """A YAML file nested too deep or with too many aliases (a limit, not a syntax error)."""


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys and bounds nesting and aliases.

    Plain PyYAML silently keeps the last of two equal keys, so a center with two `number:`
    lines would quietly dial the second one. Its composer recurses once per level, so
    50,000 nested brackets would end in a RecursionError rather than a problem report.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _TooLarge(
                    problem=f"more than {MAX_YAML_ALIASES} aliases (*name)",
                    problem_mark=self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
        self._depth += 1
        if self._depth > MAX_NESTING_DEPTH:
            raise _TooLarge(
                problem=f"nested more than {MAX_NESTING_DEPTH} levels deep",
                problem_mark=self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Hashable, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"'{key}' appears twice (first on line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def _load_yaml(ctx: _Context, name: str) -> object | None:
    """The parsed content of a table file; None when it is absent or unusable (reported)."""
    path = ctx.root / name
    if not path.is_file():
        if name in REQUIRED_FILES:
            ctx.unusable.add(name)
            ctx.add(name, "file", "missing: every table set needs this file")
        return None
    raw = _read_bounded(ctx, name, MAX_TABLE_FILE_BYTES)
    if raw is None:
        ctx.unusable.add(name)
        return None
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)  # a SafeLoader
    except UnicodeDecodeError as exc:
        ctx.add(name, "file", f"not UTF-8 text (bad byte at offset {exc.start})")
    except _TooLarge as exc:
        mark = exc.problem_mark
        ctx.add(name, f"line {mark.line + 1}" if mark else "file", f"too large: {exc.problem}")
    except yaml.MarkedYAMLError as exc:
        ctx.add(name, *_yaml_problem(exc))
    except yaml.YAMLError as exc:
        ctx.add(name, "file", f"not valid YAML: {exc}")
    else:
        return {} if data is None else data
    ctx.unusable.add(name)
    return None


def _read_bounded(ctx: _Context, relative: str, limit: int) -> bytes | None:
    """The bytes of a file of the set, or None (reported) when it or the set is too large.

    The size is checked before reading, so a 1 GB file costs nothing.
    """
    size = (ctx.root / relative).stat().st_size
    total = sum(len(b) for b in ctx.contents.values()) + size
    if size > limit or total > MAX_SET_BYTES:
        ctx.too_large.add(relative)
        reason = f"{size:,} bytes, the limit is {limit:,}"
        if size <= limit:
            reason = f"the table set would exceed {MAX_SET_BYTES:,} bytes in all"
        ctx.add(relative, "file", f"too large: {reason}")
        return None
    raw = (ctx.root / relative).read_bytes()
    ctx.contents[relative] = raw
    return raw


def _yaml_problem(exc: yaml.MarkedYAMLError) -> tuple[str, str]:
    """(entry, reason) for a YAML error: the line where parsing failed, and what it was in.

    PyYAML often notices a mistake on the line after it (an unclosed `[` is found at the next
    key), so the line of the enclosing construct is named too.
    """
    mark = exc.problem_mark or exc.context_mark
    entry = f"line {mark.line + 1}" if mark else "file"
    reason = f"not valid YAML: {exc.problem or exc.context}"
    context = exc.context_mark
    if exc.problem and exc.context and context and mark and context.line != mark.line:
        reason += f" ({exc.context} on line {context.line + 1})"
    return entry, reason


def _check_file_names(ctx: _Context) -> None:
    # A misspelt file name ("partnership.yaml") would otherwise be a table silently left out.
    for path in sorted(ctx.root.iterdir()):
        if path.suffix in (".yaml", ".yml") and path.name not in TABLE_FILES:
            ctx.add(
                path.name,
                "file",
                f"not a known table file{_did_you_mean(path.name, TABLE_FILES)}; "
                f"the tables are {', '.join(TABLE_FILES)}",
            )


class _Entry:
    """One YAML mapping being read: each accessor records a problem rather than raising.

    Accessors return the value, or the default when the field is absent or invalid; `valid`
    turns False at the first problem so the caller builds nothing from a bad entry.
    """

    def __init__(
        self,
        ctx: _Context,
        file: str,
        label: str,
        raw: object,
        required: Sequence[str],
        optional: Sequence[str] = (),
    ) -> None:
        self.ctx, self.file, self.label = ctx, file, label
        self.valid = True
        self.fields: dict[str, object] = {}
        if not isinstance(raw, Mapping):
            self.problem(f"expected fields ({', '.join([*required, *optional])}), got {_kind(raw)}")
            return
        self.fields = {str(k): v for k, v in raw.items()}
        self._check_keys(required, optional)

    def _check_keys(self, required: Sequence[str], optional: Sequence[str]) -> None:
        known = [*required, *optional]
        for key in self.fields:
            if key not in known:
                self.problem(f"unknown key '{key}'{_did_you_mean(key, known)}")
        for key in required:
            if self.fields.get(key) is None:
                self.problem(f"missing required field '{key}'")

    def problem(self, reason: str, file: str | None = None) -> None:
        """Record a problem with this entry (found in `file` when not the table file itself)."""
        self.valid = False
        self.ctx.add(file or self.file, self.label, reason)

    def has(self, key: str) -> bool:
        return self.fields.get(key) is not None

    def raw(self, key: str) -> object:
        return self.fields.get(key)

    def text(self, key: str) -> str | None:
        value = self.fields.get(key)
        if value is None:
            return None
        if isinstance(value, str) and value.strip():
            return value.strip()
        self._bad(key, f"must be text, got {_kind(value)}")
        return None

    def identifier(self, key: str) -> str | None:
        value = self.text(key)
        if value is None or _ID.fullmatch(value):
            return value
        self._bad(key, f"'{value}' must be lowercase letters, digits and dashes")
        return None

    def identifiers(self, key: str) -> tuple[str, ...]:
        items = self._list(key)
        ids = tuple(i for i in items if isinstance(i, str) and _ID.fullmatch(i))
        if len(ids) != len(items):
            self._bad(key, "must list ids (lowercase letters, digits and dashes)")
        return ids

    def flag(self, key: str) -> bool:
        value = self.fields.get(key, False)
        if isinstance(value, bool):
            return value
        self._bad(key, f"must be true or false, got {_kind(value)}")
        return False

    def integer(self, key: str, default: int, bounds: tuple[int, int] | None = None) -> int:
        value = self.fields.get(key)
        if value is None:
            return default
        # bool is an int in Python, but `priority: yes` is surely a mistake.
        if not isinstance(value, int) or isinstance(value, bool):
            self._bad(key, f"must be a whole number, got {_kind(value)}")
            return default
        if bounds and not bounds[0] <= value <= bounds[1]:
            self._bad(key, f"must be from {bounds[0]} to {bounds[1]}, got {value}")
        return value

    def phone(self, key: str) -> str | None:
        value = self.fields.get(key)
        if value is None:
            return None
        reason = _phone_problem(value)
        if reason:
            self._bad(key, reason)
            return None
        return str(value)

    def phones(self, key: str) -> tuple[str, ...]:
        numbers = []
        for value in self._list(key):
            reason = _phone_problem(value)
            if reason:
                self._bad(key, reason)
            else:
                numbers.append(str(value))
        return tuple(numbers)

    def timezone(self, key: str) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (KeyError, ValueError, OSError):
            self._bad(key, f"unknown time zone '{value}' (an IANA name such as America/Chicago)")
            return None
        return value

    def hours(self, key: str) -> Hours | None:
        """The weekly hours under `key`, with the entry's holidays and closures, if any."""
        hours = self._parsed(key, parse_hours)
        holidays = self._parsed("holidays", parse_holidays) if self.has("holidays") else ()
        closures = self._parsed("closures", parse_closures) if self.has("closures") else ()
        if hours is None or holidays is None or closures is None:
            return None
        return replace(hours, holidays=holidays, closures=closures)

    def _parsed(self, key: str, parse: Callable[[object], _T]) -> _T | None:
        value = self.fields.get(key)
        if value is None:
            return None
        try:
            return parse(value)
        except HoursError as exc:
            self._bad(key, str(exc))
            return None

    def languages(self, key: str) -> tuple[str, ...]:
        items = self._list(key)
        codes = tuple(i for i in items if isinstance(i, str) and _LANGUAGE.fullmatch(i))
        for item in items:
            if item not in codes:
                self._bad(
                    key, f"{_quoted(item)} is not a two-letter language code such as en or es"
                )
        return codes

    def counties(self, key: str, allow_empty: bool = False) -> tuple[str, ...]:
        """Known county FIPS codes listed under `key`; unknown or malformed ones are reported."""
        items = self._list(key)
        if not items and not allow_empty and self.has(key):
            self._bad(key, "lists no counties")
        codes = []
        for item in items:
            code = _fips_code(item)
            if code is None:
                self._bad(key, f'{_quoted(item)} is not a 5-digit county FIPS code such as "20209"')
            elif self.ctx.layer.get(code) is None:
                self._bad(key, f"unknown county FIPS code '{code}'")
            else:
                codes.append(code)
        return tuple(codes)

    def _list(self, key: str) -> list[object]:
        value = self.fields.get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self._bad(key, f"must be a list such as [a, b], got {_kind(value)}")
        return []

    def _bad(self, key: str, reason: str) -> None:
        self.problem(f"{key}: {reason}")


def _section(entry: _Entry, key: str, required: bool = True) -> list[object]:
    """A top-level list such as `centers:`; empty when absent or not a list (both reported).

    Without a required section the file's ids are unknown, so the file is marked unusable:
    references to it are then not checked, rather than all reported as unknown.
    """
    value = entry.raw(key)
    if isinstance(value, list):
        return value
    if value is not None:
        entry.problem(
            f"{key}: must be a list of entries, each starting with '- ', got {_kind(value)}"
        )
    if required:
        entry.ctx.unusable.add(entry.file)
    return []


def _label(kind: str, raw: object, index: int, key: str = "id") -> str:
    """Name an entry by its id when it has a readable one, else by its position (from 1)."""
    value = raw.get(key) if isinstance(raw, Mapping) else None
    return f"{kind} {value}" if isinstance(value, str) and value else f"{kind} #{index}"


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (write it in quotes if it is text)"
    if isinstance(value, int | float):
        return f"the number {value} (write it in quotes if it is text)"
    if isinstance(value, str):
        return f"the text '{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping of fields"
    return f"the {type(value).__name__} {value} (write it in quotes if it is text)"


def _quoted(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else _kind(value)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _phone_problem(value: object) -> str | None:
    """Why `value` is not a dialable E.164 number, or None when it is one."""
    if not isinstance(value, str):
        # YAML reads an unquoted +17855550101 as a number and drops the '+'.
        return f'{_kind(value)} is not a phone number; write it in quotes, such as "+17855550101"'
    if not _E164.fullmatch(value):
        return f"'{value}' is not in E.164 form: '+', country code and number, no spaces"
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        valid = False
    return None if valid else f"'{value}' is not a valid phone number"


def _fips_code(value: object) -> str | None:
    # An unquoted 20209 is an int; accept it, since five digits without a leading zero are
    # unambiguous (a leading zero would already be lost, or read as octal, by YAML).
    if isinstance(value, int) and not isinstance(value, bool) and 10000 <= value <= 99999:
        return str(value)
    if isinstance(value, str) and _FIPS.fullmatch(value):
        return value
    return None


# --------------------------------------------------------------------------------------------
# centers.yaml


@dataclass(frozen=True)
class _CenterRow:
    """One center entry, as far as it could be read.

    `id` and `backups` are kept even when another field is bad (`center` is then None), so
    references to this center do not cascade into "unknown center" problems.
    """

    label: str
    id: str | None
    backups: tuple[str, ...]
    national: bool
    center: Center | None


@dataclass
class _Centers:
    rows: list[_CenterRow] = field(default_factory=list)
    national: str | None = None
    language_lines: dict[str, str] = field(default_factory=dict)
    veterans_line: str | None = None

    @property
    def ids(self) -> set[str]:
        return {r.id for r in self.rows if r.id}


def _read_centers(ctx: _Context) -> _Centers:
    result = _Centers()
    data = _load_yaml(ctx, CENTERS)
    if data is None:
        return result
    top = _Entry(ctx, CENTERS, "file", data, required=("centers",), optional=("specialty",))
    result.rows = [_read_center(ctx, raw, i) for i, raw in enumerate(_section(top, "centers"), 1)]
    _check_duplicate_ids(ctx, CENTERS, [(r.label, r.id) for r in result.rows])
    result.national = _national_line(ctx, result.rows)
    if top.has("specialty"):
        _read_specialty(ctx, top.raw("specialty"), result)
    return result


def _read_center(ctx: _Context, raw: object, index: int) -> _CenterRow:
    label = _label("center", raw, index)
    e = _Entry(
        ctx,
        CENTERS,
        label,
        raw,
        required=("id", "name", "number", "timezone", "hours"),
        optional=(
            "languages",
            "ring_timeout_seconds",
            "backups",
            "national_backup",
            "holidays",
            "closures",
        ),
    )
    cid, name, number = e.identifier("id"), e.text("name"), e.phone("number")
    timezone, hours = e.timezone("timezone"), e.hours("hours")
    languages = e.languages("languages") if e.has("languages") else ("en",)
    if e.has("languages") and not languages:
        e.problem("languages: lists no language")
    ring = e.integer("ring_timeout_seconds", RING_TIMEOUT_DEFAULT_S, RING_TIMEOUT_BOUNDS_S)
    backups, national = e.identifiers("backups"), e.flag("national_backup")
    for backup in backups:
        ctx.center_refs.append(_Ref(CENTERS, label, backup, " in backups"))
    center = None
    if e.valid and cid and name and number and timezone and hours:
        center = Center(cid, name, number, timezone, hours, languages, ring, backups)
    return _CenterRow(label, cid, backups, national, center)


def _check_duplicate_ids(ctx: _Context, file: str, entries: list[tuple[str, str | None]]) -> None:
    seen: set[str] = set()
    for label, entry_id in entries:
        if entry_id in seen:
            ctx.add(file, label, f"id '{entry_id}' is used by more than one entry")
        elif entry_id:
            seen.add(entry_id)


def _national_line(ctx: _Context, rows: list[_CenterRow]) -> str | None:
    if CENTERS in ctx.unusable:
        return None  # the centers could not be read: that is the problem already reported
    marked = [r.id for r in rows if r.national and r.id]
    if len(marked) == 1:
        return marked[0]
    if not marked:
        reason = "no center is marked 'national_backup: true'; exactly one must be"
    else:
        reason = (
            f"exactly one center may be marked 'national_backup: true', not {', '.join(marked)}"
        )
    ctx.add(CENTERS, "centers", reason)
    return None


def _read_specialty(ctx: _Context, raw: object, result: _Centers) -> None:
    e = _Entry(ctx, CENTERS, "specialty", raw, required=(), optional=("languages", "veterans"))
    lines = e.raw("languages")
    if isinstance(lines, Mapping):
        result.language_lines = _language_lines(e, lines)
    elif lines is not None:
        e.problem(
            f"languages: must map language codes to centers (es: some-center), got {_kind(lines)}"
        )
    result.veterans_line = e.identifier("veterans")
    if result.veterans_line:
        ctx.center_refs.append(_Ref(CENTERS, "specialty", result.veterans_line, " for veterans"))


def _language_lines(e: _Entry, lines: Mapping[object, object]) -> dict[str, str]:
    result = {}
    for code, center_id in lines.items():
        if not (isinstance(code, str) and _LANGUAGE.fullmatch(code)):
            e.problem(f"languages: {_quoted(code)} is not a two-letter language code such as es")
        elif not (isinstance(center_id, str) and _ID.fullmatch(center_id)):
            e.problem(f"languages: {code} must name a center id, got {_kind(center_id)}")
        else:
            result[code] = center_id
            e.ctx.center_refs.append(_Ref(CENTERS, "specialty", center_id, f" for language {code}"))
    return result


# --------------------------------------------------------------------------------------------
# catchments.yaml and overlays


@dataclass(frozen=True)
class _Claim:
    """One catchment's claim on one county. `center` is None when the entry names no center."""

    fips: str
    center: str | None
    priority: int


@dataclass
class _Catchments:
    claims: list[_Claim] = field(default_factory=list)
    states: set[str] = field(default_factory=set)
    overlays: list[Overlay] = field(default_factory=list)


def _read_catchments(ctx: _Context) -> _Catchments:
    result = _Catchments()
    data = _load_yaml(ctx, CATCHMENTS)
    if data is None:
        return result
    top = _Entry(ctx, CATCHMENTS, "file", data, required=("catchments",), optional=("overlays",))
    for index, raw in enumerate(_section(top, "catchments"), 1):
        result.claims.extend(_read_catchment(ctx, raw, index, result.states))
    result.states.update(state_abbr(c.fips) for c in result.claims)
    overlays = _section(top, "overlays", required=False)
    rows = [_read_overlay(ctx, raw, i) for i, raw in enumerate(overlays, 1)]
    _check_duplicate_ids(ctx, CATCHMENTS, [(label, oid) for label, oid, _ in rows])
    result.overlays = [overlay for _, _, overlay in rows if overlay]
    if isinstance(top.raw("overlays"), list | None):  # else which files are used is unknown
        _check_unused_overlay_files(ctx)
    return result


def _read_catchment(ctx: _Context, raw: object, index: int, states: set[str]) -> list[_Claim]:
    # Catchments have no id and a center may have several, so the position comes first.
    center_name = raw.get("center") if isinstance(raw, Mapping) else None
    label = f"catchment #{index}" + (f" ({center_name})" if isinstance(center_name, str) else "")
    e = _Entry(
        ctx,
        CATCHMENTS,
        label,
        raw,
        required=("center",),
        optional=("counties", "state", "except", "priority"),
    )
    center, priority = e.identifier("center"), e.integer("priority", 0)
    if center:
        ctx.center_refs.append(_Ref(CATCHMENTS, label, center))
    if e.has("counties") == e.has("state"):
        e.problem("give either 'counties' (a list of FIPS codes) or 'state' (such as KS), not both")
        return []
    if e.has("except") and not e.has("state"):
        e.problem("'except' only goes with 'state'")
    fips = e.counties("counties") if e.has("counties") else _state_counties(e, states)
    # Claims are kept even from a bad entry: its counties are not "uncovered", merely misfiled.
    return [_Claim(f, center, priority) for f in fips]


def _state_counties(e: _Entry, states: set[str]) -> tuple[str, ...]:
    text = e.text("state")
    if text is None:
        return ()  # not text: already reported
    state = text.upper()
    if state not in ABBR_TO_FIPS:
        e.problem(f"state: unknown state '{state}' (use a USPS code such as KS)")
        return ()
    states.add(state)
    excluded = e.counties("except", allow_empty=True)
    for fips in excluded:
        if state_abbr(fips) != state:
            e.problem(f"except: county {fips} is not in {state}")
    return tuple(c.fips for c in e.ctx.layer.in_state(state) if c.fips not in excluded)


def _read_overlay(ctx: _Context, raw: object, index: int) -> tuple[str, str | None, Overlay | None]:
    label = _label("overlay", raw, index)
    e = _Entry(
        ctx,
        CATCHMENTS,
        label,
        raw,
        required=("id", "name", "center", "file"),
        optional=("priority",),
    )
    oid, name, center = e.identifier("id"), e.text("name"), e.identifier("center")
    file, priority = e.text("file"), e.integer("priority", 0)
    if center:
        ctx.center_refs.append(_Ref(CATCHMENTS, label, center))
    geometry = _read_overlay_file(e, file) if file else None
    if e.valid and oid and name and center and geometry is not None:
        return label, oid, Overlay(oid, name, center, geometry, priority)
    return label, oid, None


def _read_overlay_file(e: _Entry, file: str) -> BaseGeometry | None:
    root = e.ctx.root.resolve()
    path = (root / file).resolve()
    if not path.is_relative_to(root):
        e.problem(f"file: '{file}' must be inside the tables directory")
        return None
    if not path.is_file():
        e.problem(f"file: '{file}' does not exist")
        return None
    relative = path.relative_to(root).as_posix()
    raw = _read_bounded(e.ctx, relative, MAX_OVERLAY_FILE_BYTES)
    if raw is None:
        e.valid = False
        return None
    if json_depth(raw) > MAX_NESTING_DEPTH:
        e.problem(f"too large: nested more than {MAX_NESTING_DEPTH} levels deep", file=relative)
        return None
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, or NaN and Infinity
        e.problem(f"not valid GeoJSON: {exc}", file=relative)
        return None
    return _overlay_geometry(e, relative, data)


_JSON_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_JSON_STRING = re.compile(rb'"[^"]*"')


def json_depth(raw: bytes) -> int:
    """How deep the lists and objects of a JSON text nest, without parsing it.

    Python's json parser recurses once per level, so the depth is measured first: escapes,
    then strings are removed (two linear passes: no backtracking on hostile input), then a
    running sum of opening minus closing brackets gives the depth at each point.
    """
    text = _JSON_STRING.sub(b"", _JSON_ESCAPE.sub(b"", raw))
    brackets = np.frombuffer(text, dtype=np.uint8)
    step = np.isin(brackets, (ord("["), ord("{"))).astype(np.int32)
    step -= np.isin(brackets, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def _reject_constant(name: str) -> NoReturn:
    # Python's json accepts NaN and Infinity; JSON (so GeoJSON) does not, nor can GEOS use them.
    raise ValueError(f"{name} is not a number JSON allows")


def _overlay_geometry(e: _Entry, file: str, data: object) -> BaseGeometry | None:
    """Union of the file's polygons, or None when any of them is bad (each reported)."""
    geometries = _geojson_geometries(data)
    if not geometries:
        e.problem("no Polygon or MultiPolygon in the file", file=file)
    parts = []
    for number, geometry in enumerate(geometries, 1):
        reason, polygon = _polygon(geometry)
        reason = reason or _vertex_problem(e.ctx, polygon)
        if reason:
            where = f"geometry {number}: " if len(geometries) > 1 else ""
            e.problem(where + reason, file=file)
        else:
            parts.append(polygon)
    return shapely.union_all(parts) if e.valid else None


def _geojson_geometries(data: object) -> list[object]:
    """Geometries of a FeatureCollection, a Feature or a bare geometry."""
    if not isinstance(data, Mapping):
        return [data]
    if data.get("type") == "FeatureCollection":
        features = data.get("features")
        return [_feature_geometry(f) for f in features] if isinstance(features, list) else []
    if data.get("type") == "Feature":
        return [_feature_geometry(data)]
    return [data]


def _vertex_problem(ctx: _Context, polygon: BaseGeometry | None) -> str | None:
    # Counted per geometry as they are read, so a huge file stops at its first excess.
    before = ctx.vertices
    ctx.vertices += int(shapely.get_num_coordinates(polygon)) if polygon is not None else 0
    if ctx.vertices - before > MAX_OVERLAY_VERTICES:
        return f"too large: more than {MAX_OVERLAY_VERTICES:,} points in one polygon"
    if ctx.vertices > MAX_SET_VERTICES:
        return f"too large: the overlays would have more than {MAX_SET_VERTICES:,} points in all"
    return None


def _feature_geometry(feature: object) -> object:
    return feature.get("geometry") if isinstance(feature, Mapping) else feature


def _polygon(geometry: object) -> tuple[str | None, BaseGeometry | None]:
    """(None, polygon) for a valid lon/lat polygon, else (reason, None)."""
    try:
        geom = shape(geometry)
    except (ShapelyError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        return f"not a readable GeoJSON geometry ({exc or type(exc).__name__})", None
    if not isinstance(geom, Polygon | MultiPolygon):
        return f"expected a Polygon or MultiPolygon, got {geom.geom_type}", None
    if geom.is_empty:
        return "the polygon is empty", None
    west, south, east, north = geom.bounds
    # Swapped coordinates (lat, lon) put a US polygon at "latitude" -95. Checked before
    # validity, which GEOS cannot judge on non-finite or absurd coordinates (NaN fails too).
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        return "coordinates must be longitude, latitude in degrees (GeoJSON order)", None
    if not geom.is_valid:
        return f"invalid polygon: {shapely.is_valid_reason(geom)}", None
    return None, geom


def _check_unused_overlay_files(ctx: _Context) -> None:
    # An admin who drops a boundary into overlays/ but forgets its entry expects it to route.
    folder = ctx.root / OVERLAY_DIR
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        relative = f"{OVERLAY_DIR}/{path.name}"
        used = relative in ctx.contents or relative in ctx.too_large
        if path.suffix in (".geojson", ".json") and not used:
            ctx.add(
                relative, "file", f"not used by any overlay in {CATCHMENTS}; add one or remove it"
            )


# --------------------------------------------------------------------------------------------
# psaps.yaml


@dataclass(frozen=True)
class _PsapRow:
    label: str
    id: str | None
    psap: Psap | None


def _read_psaps(ctx: _Context) -> list[_PsapRow]:
    data = _load_yaml(ctx, PSAPS)
    if data is None:
        return []
    top = _Entry(ctx, PSAPS, "file", data, required=("psaps",))
    rows = [_read_psap(ctx, raw, i) for i, raw in enumerate(_section(top, "psaps"), 1)]
    _check_duplicate_ids(ctx, PSAPS, [(r.label, r.id) for r in rows])
    _check_shared_numbers(ctx, rows)
    return rows


def _read_psap(ctx: _Context, raw: object, index: int) -> _PsapRow:
    label = _label("psap", raw, index)
    e = _Entry(
        ctx,
        PSAPS,
        label,
        raw,
        required=("id", "name", "numbers", "escalation", "counties", "timezone"),
        optional=("alternates",),
    )
    pid, name, numbers = e.identifier("id"), e.text("name"), e.phones("numbers")
    escalation, alternates = e.phone("escalation"), e.phones("alternates")
    counties, timezone = e.counties("counties"), e.timezone("timezone")
    if e.raw("numbers") == []:
        e.problem("numbers: lists no number")
    psap = None
    if e.valid and pid and name and escalation and timezone:
        psap = Psap(pid, name, numbers, escalation, alternates, counties, timezone)
    return _PsapRow(label, pid, psap)


def _check_shared_numbers(ctx: _Context, rows: list[_PsapRow]) -> None:
    # Transfers are told apart by the number they come from, so no two PSAPs may share one.
    owners: dict[str, str] = {}
    for row in rows:
        if row.psap is None:
            continue
        for number in row.psap.numbers:
            owner = owners.setdefault(number, row.psap.id)
            if owner != row.psap.id:
                ctx.add(PSAPS, row.label, f"numbers: {number} is also a number of psap '{owner}'")


# --------------------------------------------------------------------------------------------
# partnerships.yaml


def _read_partnerships(ctx: _Context) -> list[Partnership]:
    data = _load_yaml(ctx, PARTNERSHIPS)
    if data is None:
        return []
    top = _Entry(ctx, PARTNERSHIPS, "file", data, required=("partnerships",))
    result: dict[tuple[str, str], Partnership] = {}
    for index, raw in enumerate(_section(top, "partnerships"), 1):
        label, partnership = _read_partnership(ctx, raw, index)
        if partnership is None:
            continue
        pair = (partnership.psap_id, partnership.center_id)
        if pair in result:
            ctx.add(PARTNERSHIPS, label, "this psap and center already have a partnership above")
        result[pair] = partnership
    return list(result.values())


def _read_partnership(ctx: _Context, raw: object, index: int) -> tuple[str, Partnership | None]:
    fields = raw if isinstance(raw, Mapping) else {}
    psap, center = fields.get("psap"), fields.get("center")
    label = (
        f"partnership {psap} -> {center}"
        if isinstance(psap, str) and isinstance(center, str)
        else f"partnership #{index}"
    )
    e = _Entry(
        ctx,
        PARTNERSHIPS,
        label,
        raw,
        required=("psap", "center", "call_types"),
        optional=("share_with_center",),
    )
    psap_id, center_id = e.identifier("psap"), e.identifier("center")
    if psap_id:
        ctx.psap_refs.append(_Ref(PARTNERSHIPS, label, psap_id))
    if center_id:
        ctx.center_refs.append(_Ref(PARTNERSHIPS, label, center_id))
    call_types = _call_types(e)
    shares = _shares(ctx, label, e.raw("share_with_center"))
    if e.valid and shares is not None and psap_id and center_id:
        return label, Partnership(psap_id, center_id, MappingProxyType(call_types), shares)
    return label, None


def _shares(ctx: _Context, label: str, raw: object) -> CenterShare | None:
    """What the partnership's center receives of the caller's details (the least when the
    entry says nothing); None, with the problem recorded, when the entry is wrong."""
    if raw is None:
        return CenterShare()
    fields = ("callback_number", "summary", "location")
    e = _Entry(ctx, PARTNERSHIPS, f"{label}: share_with_center", raw, (), fields)
    callback, summary = e.flag("callback_number"), e.flag("summary")
    precision = e.text("location") or LocationPrecision.COUNTY.value
    location = next((p for p in LocationPrecision if p.value == precision), None)
    if location is None:
        e.problem(f"location: '{precision}' must be exact, county or none")
    if not e.valid or location is None:
        return None
    return CenterShare(callback, summary, location)


def _call_types(e: _Entry) -> dict[str, frozenset[Risk]]:
    value = e.raw("call_types")
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not value:
        e.problem(
            "call_types: must list call types with risk levels, such as emotional-distress: [low]"
        )
        return {}
    result = {}
    for name, risks in value.items():
        if isinstance(name, str) and _CALL_TYPE.fullmatch(name):
            result[name] = _risks(e, name, risks)
        else:
            e.problem(f"call_types: {_quoted(name)} must be lowercase words joined by dashes")
    return result


def _risks(e: _Entry, call_type: str, value: object) -> frozenset[Risk]:
    if not isinstance(value, list) or not value:
        e.problem(f"call_types: {call_type} must list risk levels, such as [low, mild]")
        return frozenset()
    levels = set()
    for item in value:
        name = item.strip().lower() if isinstance(item, str) else item
        risk = next((r for r in Risk if r.value == name), None)
        if risk is None:
            e.problem(
                f"call_types: {call_type}: unknown risk level {_quoted(item)} (use low or mild)"
            )
        elif risk not in TRANSFERABLE_RISKS:
            e.problem(
                f"call_types: {call_type}: '{risk.value}' risk can never transfer to 988; "
                "callers at moderate or higher risk stay with 911 (mobile crisis, CIT or EMS), "
                "so list only low and mild"
            )
        else:
            levels.add(risk)
    return frozenset(levels)


# --------------------------------------------------------------------------------------------
# area_codes.yaml


@dataclass
class _AreaCodes:
    area_codes: dict[str, str] = field(default_factory=dict)
    state_centers: dict[str, str] = field(default_factory=dict)


def _read_area_codes(ctx: _Context) -> _AreaCodes:
    result = _AreaCodes()
    data = _load_yaml(ctx, AREA_CODES)
    if data is None:
        return result
    top = _Entry(ctx, AREA_CODES, "file", data, required=(), optional=("area_codes", "states"))
    for key, center in _pairs(top, "area_codes"):
        # An unquoted 913 is read as a number; it still means the area code.
        npa = str(key) if isinstance(key, int) and not isinstance(key, bool) else key
        label = f"area code {npa}"
        if not (isinstance(npa, str) and _NPA.fullmatch(npa)):
            ctx.add(AREA_CODES, label, "not an area code (three digits, the first 2 to 9)")
        elif _area_center(ctx, label, center):
            result.area_codes[npa] = str(center)
    for key, center in _pairs(top, "states"):
        label = f"state {key}"
        if not (isinstance(key, str) and key in ABBR_TO_FIPS):
            ctx.add(AREA_CODES, label, "not a USPS state code such as KS")
        elif _area_center(ctx, label, center):
            result.state_centers[key] = str(center)
    return result


def _pairs(top: _Entry, key: str) -> list[tuple[object, object]]:
    value = top.raw(key)
    if value is None:
        return []
    if isinstance(value, Mapping):
        return list(value.items())
    top.problem(f"{key}: must map each code to a center id (913: some-center), got {_kind(value)}")
    return []


def _area_center(ctx: _Context, label: str, center: object) -> bool:
    if isinstance(center, str) and _ID.fullmatch(center):
        ctx.center_refs.append(_Ref(AREA_CODES, label, center))
        return True
    ctx.add(AREA_CODES, label, f"must name a center id, got {_kind(center)}")
    return False


# --------------------------------------------------------------------------------------------
# Checks across files


def _check_references(ctx: _Context, centers: _Centers, psaps: list[_PsapRow]) -> None:
    # When the file defining the ids is unusable, every reference would look unknown: the
    # administrator is already told about that file, and a cascade would hide it.
    if CENTERS not in ctx.unusable:
        _check_refs(ctx, ctx.center_refs, centers.ids, "center")
    if PSAPS not in ctx.unusable:
        _check_refs(ctx, ctx.psap_refs, {r.id for r in psaps if r.id}, "psap")


def _check_refs(ctx: _Context, refs: list[_Ref], known: set[str], noun: str) -> None:
    for ref in refs:
        if ref.target not in known:
            hint = _did_you_mean(ref.target, sorted(known))
            ctx.add(ref.file, ref.entry, f"unknown {noun} '{ref.target}'{ref.where}{hint}")


def _check_backups(ctx: _Context, centers: _Centers) -> None:
    """Every chain ends at the national line, which itself has none; no chain loops."""
    known = centers.ids
    for row in centers.rows:
        if row.id and row.id == centers.national:
            if row.backups:
                ctx.add(
                    CENTERS,
                    row.label,
                    "backups: the national backup line has none (every chain ends there)",
                )
        elif row.id:
            _check_chain(ctx, row, centers.national, known)
    for cycle in _backup_cycles(centers.rows, centers.national):
        ctx.add(CENTERS, f"center {cycle[0]}", f"backup cycle: {' -> '.join(cycle)}")


def _check_chain(ctx: _Context, row: _CenterRow, national: str | None, known: set[str]) -> None:
    for backup in sorted({b for b in row.backups if row.backups.count(b) > 1}):
        ctx.add(CENTERS, row.label, f"backups: lists '{backup}' more than once")
    last = row.backups[-1] if row.backups else None
    # No national line (reported) or an unknown last id (reported): nothing more to say.
    if national is None or last == national or (last is not None and last not in known):
        return
    if national in row.backups:
        reason = f"backups: the national backup line '{national}' must come last"
    else:
        reason = f"backups: must end at the national backup line '{national}'"
    ctx.add(CENTERS, row.label, reason)


def _backup_cycles(rows: list[_CenterRow], national: str | None) -> list[list[str]]:
    """Loops in the backup graph, each as a path that returns to its start ([a, b, a])."""
    # The national line's own backups are already an error; loops through them are noise.
    graph = {r.id: r.backups for r in rows if r.id and r.id != national}
    cycles: list[list[str]] = []
    found: set[frozenset[str]] = set()
    done: set[str] = set()
    for root in graph:
        if root not in done:
            _walk_backups(graph, root, done, found, cycles)
    return cycles


def _walk_backups(
    graph: Mapping[str, Sequence[str]],
    root: str,
    done: set[str],
    found: set[frozenset[str]],
    cycles: list[list[str]],
) -> None:
    # Depth first with an explicit stack: a chain of thousands of centers must not reach
    # the interpreter's recursion limit.
    path, on_path = [root], {root}
    pending = [iter(graph.get(root, ()))]
    while pending:
        nxt = next(pending[-1], None)
        if nxt is None:
            on_path.discard(path[-1])
            done.add(path.pop())
            pending.pop()
        elif nxt in on_path:
            cycle = [*path[path.index(nxt) :], nxt]
            if frozenset(cycle) not in found:
                found.add(frozenset(cycle))
                cycles.append(cycle)
        elif nxt not in done and nxt in graph:
            path.append(nxt)
            on_path.add(nxt)
            pending.append(iter(graph[nxt]))


def _check_language_lines(ctx: _Context, centers: _Centers) -> None:
    by_id = {r.id: r.center for r in centers.rows if r.id and r.center}
    for code, center_id in centers.language_lines.items():
        center = by_id.get(center_id)
        if center and code not in center.languages:
            reason = (
                f"languages: the {code} line '{center_id}' does not list '{code}' in its languages"
            )
            ctx.add(CENTERS, "specialty", reason)


def _resolve_counties(ctx: _Context, catchments: _Catchments) -> dict[str, str]:
    """County -> winning center; reports ties at the same priority and uncovered counties."""
    if CATCHMENTS in ctx.unusable:
        return {}  # which counties are claimed is unknown: "uncovered" would be noise
    levels: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for claim in catchments.claims:
        at = levels[claim.fips][claim.priority]
        if claim.center and claim.center not in at:
            at.append(claim.center)
    _report_ties(ctx, levels)
    _report_uncovered(ctx, catchments.states, levels)
    winners = {fips: by_priority[max(by_priority)] for fips, by_priority in levels.items()}
    return {fips: top[0] for fips, top in sorted(winners.items()) if top}


def _report_ties(ctx: _Context, levels: Mapping[str, Mapping[int, list[str]]]) -> None:
    # Grouped by the centers involved: a forgotten `except:` is one problem, not 100.
    ties: dict[tuple[tuple[str, ...], int], list[str]] = defaultdict(list)
    for fips, by_priority in sorted(levels.items()):
        for priority, centers in by_priority.items():
            if len(centers) > 1:
                ties[(tuple(centers), priority)].append(fips)
    for (rivals, priority), counties in ties.items():
        names = ", ".join(_county_name(ctx.layer, f) for f in counties)
        ctx.add(
            CATCHMENTS,
            f"catchments of {' and '.join(rivals)}",
            f"{_plural(len(counties), 'county')} claimed by more than one center at priority "
            f"{priority}: {names}; give one a higher priority or remove the county from the other",
        )


def _report_uncovered(ctx: _Context, states: set[str], claimed: Mapping[str, object]) -> None:
    for state in sorted(states):
        missing = [c for c in ctx.layer.in_state(state) if c.fips not in claimed]
        if missing:
            names = ", ".join(_county_name(ctx.layer, c.fips) for c in missing)
            ctx.add(
                CATCHMENTS,
                f"state {state}",
                f"{_plural(len(missing), 'county')} served by no center: {names}",
            )


def _county_name(layer: CountyLayer, fips: str) -> str:
    county = layer.get(fips)
    return f"{county.name} ({fips})" if county else fips


def _version(contents: Mapping[str, bytes]) -> str:
    """A digest of every file read, by name, so any edit (or rename) changes the version."""
    return content_digest(contents)[:VERSION_LENGTH]
