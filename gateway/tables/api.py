"""The table versions over HTTP, for administrators (ADMIN_API_KEYS, `Authorization: Bearer`).

GET  /api/v1/tables/versions                 every version, and which is active
POST /api/v1/tables/versions                 body: a zip of a table folder; ?note=...
                                             [&effective=ISO time]; validates, stores, activates
POST /api/v1/tables/versions/<id>/activate   JSON {"note": "..."}: a rollback

The key's name goes into the audit log as who did it. Invalid tables are a 422 listing every
problem; a request the service refuses (no note, unknown version) is a 4xx naming why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from gateway.settings import Settings
from gateway.tables.bundle import MAX_ZIP_BYTES, unzip_tables
from gateway.tables.service import Listed, TableVersions, VersionError, parse_effective
from gateway.web.security import key_owner
from routing.engine import Router
from routing.errors import TablesInvalid
from routing.table_warnings import table_warnings

P = ParamSpec("P")
EXTENSION = "gateway.tables"
bp = Blueprint("tables_api", __name__, url_prefix="/api/v1/tables")


@dataclass
class TablesContext:
    """What the tables' pages and API need: the settings, the router, the store's versions."""

    settings: Settings
    router: Router
    _versions: TableVersions | None = None

    @property
    def versions(self) -> TableVersions:
        if self._versions is None:  # the store is opened on first use, not at start-up
            from gateway.adapters.store.engines import store_engine

            self._versions = TableVersions(store_engine(self.settings), self.router.snapshot.layer)
        return self._versions

    def warnings(self, version_id: str) -> list[str]:
        flow = self.settings.flow
        tables = self.versions.tables(version_id)
        found = table_warnings(tables, flow.psap_api_keys.values(), flow.center_api_keys.values())
        return [str(w) for w in found]


def init_app(
    app: Flask, settings: Settings, router: Router, versions: TableVersions | None = None
) -> None:
    """Give `app` the tables' context; `versions` defaults to the store at DATABASE_URL."""
    app.extensions[EXTENSION] = TablesContext(settings, router, versions)


def tables_context() -> TablesContext:
    context: TablesContext = current_app.extensions[EXTENSION]
    return context


def admin_key_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """401 unless `Authorization: Bearer` carries an ADMIN_API_KEYS key; g.admin is its name."""

    @wraps(view)
    def checked(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        name = key_owner(tables_context().settings.admin_api_keys, presented.strip())
        if scheme.lower() != "bearer" or name is None:
            body = {"error": "unauthorized", "message": "an administrator key is required"}
            return jsonify(body), 401
        g.admin = name
        return view(*args, **kwargs)

    return checked


@bp.get("/versions")
@admin_key_required
def list_versions() -> ResponseReturnValue:
    listed = tables_context().versions.listed()
    active = next((item.info.id for item in listed if item.active), None)
    return jsonify({"active": active, "versions": [_version_json(item) for item in listed]})


@bp.post("/versions")
@admin_key_required
def publish() -> ResponseReturnValue:
    if (request.content_length or 0) > MAX_ZIP_BYTES:
        return _error(413, "too-large", f"the zip is over {MAX_ZIP_BYTES:,} bytes")
    data = request.stream.read(MAX_ZIP_BYTES + 1)
    if len(data) > MAX_ZIP_BYTES:
        return _error(413, "too-large", f"the zip is over {MAX_ZIP_BYTES:,} bytes")
    context = tables_context()
    try:
        effective = parse_effective(request.args.get("effective"), "effective")
        version_id = context.versions.publish(
            unzip_tables(data), g.admin, request.args.get("note", ""), effective
        )
    except TablesInvalid as exc:
        return _invalid(exc)
    except VersionError as exc:
        return _error(400, "bad-request", str(exc))
    body = {"version": version_id, "warnings": context.warnings(version_id)}
    return jsonify(body), 201


@bp.post("/versions/<version_id>/activate")
@admin_key_required
def activate(version_id: str) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    note = body.get("note", "") if isinstance(body, dict) else ""
    versions = tables_context().versions
    try:
        versions.info(version_id)
    except VersionError as exc:
        return _error(404, "unknown-version", str(exc))
    try:
        versions.activate(version_id, g.admin, note if isinstance(note, str) else "")
    except TablesInvalid as exc:
        return _invalid(exc)
    except VersionError as exc:
        return _error(400, "bad-request", str(exc))
    return jsonify({"active": version_id})


def _version_json(item: Listed) -> dict[str, object]:
    v = item.info
    return {
        "id": v.id,
        "published_at": v.published_at.isoformat(),
        "published_by": v.published_by,
        "note": v.note,
        "content_hash": v.content_hash,
        "summary": dict(v.summary),
        "active": item.active,
    }


def _invalid(exc: TablesInvalid) -> ResponseReturnValue:
    problems = [{"file": p.file, "entry": p.entry, "reason": p.reason} for p in exc.problems]
    body = {"error": "invalid-tables", "message": str(exc).splitlines()[0], "problems": problems}
    return jsonify(body), 422


def _error(status: int, error: str, message: str) -> ResponseReturnValue:
    return jsonify({"error": error, "message": message}), status
