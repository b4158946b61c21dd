"""The web admin of the routing tables at /admin: server-rendered pages, no JavaScript.

Sign in with an administrator key (ADMIN_API_KEYS) in the form, which keeps the name in a
signed session cookie, or send `Authorization: Bearer <key>` with each request. Every form
carries a CSRF token; every page is sent with a strict Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from gateway.tables import drafts
from gateway.tables.api import tables_context
from gateway.tables.coverage_svg import coverage_svg
from gateway.tables.diff import diff
from gateway.tables.service import VersionError
from gateway.tables.uploads import overlay_geojson
from gateway.web.security import key_owner
from routing.engine import Router, Snapshot
from routing.errors import RoutingError, TableError, TablesInvalid
from routing.location import Civic, LocationQuery, Point, Shape
from routing.model import RoutingTables
from routing.table_warnings import table_warnings
from routing.tables import OVERLAY_DIR, load_table_files

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
OPEN_ENDPOINTS = {"admin.index", "admin.sign_in", "admin.static"}


def init_admin(app: Flask, keys: dict[str, str]) -> None:
    """Sessions for the admin: signed with a secret derived from the administrator keys.

    Every process of a deployment derives the same secret, and removing a key from
    ADMIN_API_KEYS changes it, which signs everyone out.
    """
    if app.secret_key is None and keys:
        material = "\0".join(sorted(keys)).encode()
        app.secret_key = hashlib.sha256(b"gateway-admin-session\0" + material).hexdigest()
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Strict")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.register_blueprint(bp)


@bp.before_request
def who() -> ResponseReturnValue | None:
    keys = tables_context().settings.admin_api_keys
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    g.via_bearer = scheme.lower() == "bearer"
    if g.via_bearer:
        g.admin = key_owner(keys, presented.strip())
        if g.admin is None:
            return Response("an administrator key is required", 401)
    else:
        name = session.get("admin")
        g.admin = name if name in keys.values() else None
    if g.admin is None and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("admin.index"))
    # A bearer key is not sent by a browser on its own, so only cookie sessions need the token.
    form_post = request.method == "POST" and not g.via_bearer
    if form_post and request.endpoint != "admin.sign_in" and not _csrf_ok():
        abort(400, "the form is out of date: reload the page and try again")
    return None


def _csrf_ok() -> bool:
    return secrets.compare_digest(request.form.get("csrf", ""), session.get("csrf", ""))


@bp.after_request
def protect(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def template_helpers() -> dict[str, object]:
    def csrf_field() -> Markup:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        return Markup('<input type="hidden" name="csrf" value="{}">').format(session["csrf"])

    return {"csrf_field": csrf_field, "admin_name": getattr(g, "admin", None)}


# -- signing in -------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    if g.admin is None:
        return render_template("admin/sign_in.html", error=None)
    context = tables_context()
    listed = context.versions.listed()
    active = next((item.info for item in listed if item.active), None)
    draft = _draft_or_none()
    changes = diff(context.versions.files(draft.base_version), draft.files) if draft else []
    return render_template("admin/index.html", active=active, draft=draft, changes=changes)


@bp.post("/sign-in")
def sign_in() -> ResponseReturnValue:
    name = key_owner(tables_context().settings.admin_api_keys, request.form.get("key", "").strip())
    if name is None:
        error = "That is not an administrator key. Keys are set in ADMIN_API_KEYS."
        return render_template("admin/sign_in.html", error=error), 401
    session.clear()
    session["admin"], session["csrf"] = name, secrets.token_urlsafe(32)
    return redirect(url_for("admin.index"))


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("admin.index"))


# -- centers ----------------------------------------------------------------------------------


@bp.get("/centers")
def centers() -> ResponseReturnValue:
    rows = drafts.entries_of(_draft().files, drafts.CENTER)
    return render_template("admin/centers.html", centers=rows)


@bp.route("/centers/<center_id>", methods=["GET", "POST"])
def center(center_id: str) -> ResponseReturnValue:
    return _entry_page(drafts.CENTER, center_id, "admin/center.html")


@bp.get("/psaps")
def psaps() -> ResponseReturnValue:
    return render_template("admin/psaps.html", psaps=drafts.entries_of(_draft().files, drafts.PSAP))


@bp.route("/psaps/<psap_id>", methods=["GET", "POST"])
def psap(psap_id: str) -> ResponseReturnValue:
    return _entry_page(drafts.PSAP, psap_id, "admin/psap.html")


@bp.route("/specialty", methods=["GET", "POST"])
def specialty() -> ResponseReturnValue:
    return _entry_page(drafts.SPECIALTY, "", "admin/specialty.html")


@bp.get("/catchments")
def catchments() -> ResponseReturnValue:
    files = _draft().files
    try:
        tables, active = _tables_for_test("draft"), False
    except TablesInvalid:  # the counties are then shown as the active version has them
        tables, active = tables_context().router.tables, True
    return render_template(
        "admin/catchments.html",
        catchments=drafts.entries_of(files, drafts.CATCHMENT),
        overlays=drafts.entries_of(files, drafts.OVERLAY),
        states=_counties_by_state(tables),
        centers=tables.centers,
        active=active,
    )


def _counties_by_state(tables: RoutingTables) -> dict[str, list[tuple[str, str, str | None]]]:
    """(FIPS, county, serving center id) of every county of each configured state."""
    layer = tables_context().router.snapshot.layer
    return {
        state: [(c.fips, c.label, tables.county_centers.get(c.fips)) for c in layer.in_state(state)]
        for state in sorted(tables.configured_states)
    }


@bp.route("/catchments/<int:position>", methods=["GET", "POST"])
def catchment(position: int) -> ResponseReturnValue:
    return _entry_page(drafts.CATCHMENT, str(position), "admin/catchment.html")


@bp.route("/overlays/<overlay_id>", methods=["GET", "POST"])
def overlay(overlay_id: str) -> ResponseReturnValue:
    return _entry_page(drafts.OVERLAY, overlay_id, "admin/overlay.html")


@bp.get("/overlays/<overlay_id>/preview.svg")
def overlay_preview(overlay_id: str) -> ResponseReturnValue:
    """The draft's coverage map, with this overlay drawn over the counties it takes."""
    try:
        tables = _tables_for_test("draft")
    except TablesInvalid:
        abort(409, "the draft has problems: publish shows them")
    if overlay_id not in {o.id for o in tables.overlays}:
        abort(404)
    svg = coverage_svg(tables, tables_context().router.snapshot.layer, datetime.now(UTC))
    return Response(svg, mimetype="image/svg+xml")


KINDS = {
    "centers": (drafts.CENTER, "admin/center.html"),
    "psaps": (drafts.PSAP, "admin/psap.html"),
    "catchments": (drafts.CATCHMENT, "admin/catchment.html"),
    "overlays": (drafts.OVERLAY, "admin/overlay.html"),
}


# Each its own rule: "/centers/<center_id>" would otherwise take "/centers/new".
@bp.route("/centers/new", defaults={"section": "centers"}, methods=["GET", "POST"])
@bp.route("/psaps/new", defaults={"section": "psaps"}, methods=["GET", "POST"])
@bp.route("/catchments/new", defaults={"section": "catchments"}, methods=["GET", "POST"])
@bp.route("/overlays/new", defaults={"section": "overlays"}, methods=["GET", "POST"])
def add(section: str) -> ResponseReturnValue:
    kind, template = KINDS[section]
    return _entry_page(kind, None, template)


@bp.post("/<any(centers, psaps, catchments, overlays):section>/<entry_id>/remove")
def remove(section: str, entry_id: str) -> ResponseReturnValue:
    """Remove an entry from the draft, unless that leaves other entries with new problems
    (a backup, catchment or partnership naming a removed center, say)."""
    kind, template = KINDS[section]
    draft = _draft()
    form = drafts.entry_form(draft.files, kind, entry_id)
    files = drafts.remove_entry(draft.files, kind, entry_id)
    if form is None or files is None:
        abort(404)
    added = _new_problems(draft.files, files)
    if added:
        form.errors[""] = [f"Not removed: the draft would have {len(added)} new problem(s)"]
        form.elsewhere = added
        return render_template(template, form=form), 422
    drafts.save_draft(tables_context().versions, draft, files, g.admin)
    flash(f"Removed {form.label} from the draft. Publish it when the draft is ready.")
    return redirect(url_for(f"admin.{'catchments' if section == 'overlays' else section}"))


def _entry_page(kind: drafts.Kind, entry_id: str | None, template: str) -> ResponseReturnValue:
    """View an entry of the draft (or a new one, for `entry_id` None), or save the posted
    form into the draft when the whole set has no problem with this entry; its problems are
    shown on their fields."""
    draft = _draft()
    if entry_id is None:
        form: drafts.EntryForm | None = drafts.new_form(kind)
    else:
        form = drafts.entry_form(draft.files, kind, entry_id)
    if form is None:
        abort(404)
    if request.method == "GET":
        return render_template(template, form=form)
    form.values = {name: request.form.get(name, "") for name in form.values}
    if form.new and "id" in form.values:
        form.id = form.values["id"].strip()
    files = drafts.edit_entry(_with_upload(draft.files, form), form)
    for problem in _problems(files) if files is not None else []:
        drafts.place_problem(form, problem)
    if files is None or form.errors:
        return render_template(template, form=form), 422
    drafts.save_draft(tables_context().versions, draft, files, g.admin)
    what = form.values.get("name") or f"the {form.label}"
    flash(f"Saved {what} in the draft. Publish it when the draft is ready.")
    return redirect(url_for("admin.index"))


def _with_upload(files: Mapping[str, bytes], form: drafts.EntryForm) -> Mapping[str, bytes]:
    """The files with an uploaded overlay (GeoJSON, or a zipped shapefile) as the form's
    overlay file; a file that cannot be read is an error on the upload field."""
    upload = request.files.get("upload")
    if upload is None or not upload.filename:
        return files
    if not drafts.ID.fullmatch(form.id):  # it names the file
        form.errors.setdefault("id", []).append("lowercase letters, digits and dashes")
        return files
    try:
        geojson = overlay_geojson(upload.filename, upload.read())
    except RoutingError as exc:
        form.errors.setdefault("upload", []).append(str(exc))
        return files
    kept = {name: content for name, content in files.items() if name != form.values["file"]}
    form.values["file"] = f"{OVERLAY_DIR}/{form.id}.geojson"
    return {**kept, form.values["file"]: geojson}


@bp.get("/partnerships")
def partnerships() -> ResponseReturnValue:
    files = _draft().files
    return render_template(
        "admin/partnerships.html",
        partnerships=drafts.partnerships_of(files),
        psaps=drafts.entries_of(files, drafts.PSAP),
        centers=drafts.entries_of(files, drafts.CENTER),
    )


@bp.route("/partnerships/<psap>/<center>", methods=["GET", "POST"])
def partnership(psap: str, center: str) -> ResponseReturnValue:
    draft = _draft()
    form = drafts.matrix_form(draft.files, psap, center)
    if form is None:
        abort(404)
    if request.method == "GET":
        return render_template("admin/partnership.html", form=form, risks=drafts.GRID_RISKS)
    ticked = {
        call_type: [r for r in drafts.GRID_RISKS if request.form.get(f"{call_type}:{r}")]
        for call_type in form.call_types
    }
    added = request.form.get("new_call_type", "").strip().lower()
    if added:
        ticked[added] = [r for r in drafts.GRID_RISKS if request.form.get(f"new:{r}")]
        form.call_types = sorted({*form.call_types, added})
    form.allowed = {k: v for k, v in ticked.items() if v}
    files = drafts.edit_matrix(draft.files, form)
    form.errors.extend(str(p) for p in (_problems(files) if files is not None else []))
    if files is None or form.errors:
        return render_template("admin/partnership.html", form=form, risks=drafts.GRID_RISKS), 422
    drafts.save_draft(tables_context().versions, draft, files, g.admin)
    flash(f"Saved the decision matrix of {psap} and {center} in the draft.")
    return redirect(url_for("admin.index"))


@bp.get("/partnerships/new")
def add_partnership() -> ResponseReturnValue:
    """Open the empty grid of a new PSAP and center pair; saving it adds the partnership."""
    psap, center = request.args.get("psap", ""), request.args.get("center", "")
    if drafts.matrix_form(_draft().files, psap, center) is None:
        abort(404, "choose a PSAP and a center of the draft")
    return redirect(url_for("admin.partnership", psap=psap, center=center))


@bp.post("/partnerships/<psap>/<center>/remove")
def remove_partnership(psap: str, center: str) -> ResponseReturnValue:
    draft = _draft()
    form = drafts.matrix_form(draft.files, psap, center)
    if form is None or form.new:
        abort(404)
    files = drafts.remove_partnership(draft.files, psap, center)
    form.errors = _new_problems(draft.files, files)
    if form.errors:
        return render_template("admin/partnership.html", form=form, risks=drafts.GRID_RISKS), 422
    drafts.save_draft(tables_context().versions, draft, files, g.admin)
    flash(f"Removed the partnership of {psap} and {center} from the draft.")
    return redirect(url_for("admin.partnerships"))


# -- publishing and history -------------------------------------------------------------------


@bp.route("/publish", methods=["GET", "POST"])
def publish() -> ResponseReturnValue:
    context = tables_context()
    draft = _draft()
    changes = diff(context.versions.files(context.versions.active_id() or ""), draft.files)
    problems, warnings = _check(draft.files)
    error = None
    if request.method == "POST" and not problems:
        try:
            version_id = context.versions.publish(
                draft.files, g.admin, request.form.get("note", "")
            )
        except VersionError as exc:
            error = str(exc)
        else:
            drafts.discard_draft(context.versions)
            flash(f"Published version {version_id}; every process routes with it within seconds.")
            return redirect(url_for("admin.history"))
    return render_template(
        "admin/publish.html", changes=changes, problems=problems, warnings=warnings, error=error
    ), (422 if error else 200)


@bp.post("/draft/discard")
def discard() -> ResponseReturnValue:
    drafts.discard_draft(tables_context().versions)
    flash("The draft was discarded.")
    return redirect(url_for("admin.index"))


@bp.get("/history")
def history() -> ResponseReturnValue:
    versions = tables_context().versions
    return render_template(
        "admin/history.html", listed=versions.listed(), audit=versions.audit(50), error=None
    )


@bp.post("/versions/<version_id>/activate")
def activate(version_id: str) -> ResponseReturnValue:
    versions = tables_context().versions
    try:
        versions.activate(version_id, g.admin, request.form.get("note", ""))
    except (VersionError, TablesInvalid) as exc:
        error = f"{version_id}: {exc}"
        return render_template(
            "admin/history.html", listed=versions.listed(), audit=versions.audit(50), error=error
        ), 422
    flash(f"Version {version_id} is active again; every process follows within seconds.")
    return redirect(url_for("admin.history"))


# -- coverage map and test-a-location ---------------------------------------------------------


@bp.get("/coverage")
def coverage() -> ResponseReturnValue:
    svg = Markup(_coverage())  # built from escaped parts by coverage_svg
    return render_template("admin/coverage.html", svg=svg)


@bp.get("/coverage.svg")
def coverage_image() -> ResponseReturnValue:
    return Response(_coverage(), mimetype="image/svg+xml")


def _coverage() -> str:
    router = tables_context().router
    return coverage_svg(router.tables, router.snapshot.layer, datetime.now(UTC))


@bp.get("/test")
def test_location() -> ResponseReturnValue:
    args = request.args
    if not args:
        return render_template("admin/test.html", args=args, result=None, error=None)
    try:
        tables = _tables_for_test(args.get("tables", "active"))
        query = _query(args)
        router = tables_context().router
        result = Router(Snapshot(router.snapshot.layer, router.snapshot.index, tables)).route(query)
    except (RoutingError, VersionError) as exc:
        return render_template("admin/test.html", args=args, result=None, error=str(exc)), 400
    at = query.at or datetime.now(UTC)
    plan = [(tables.centers[c], tables.centers[c].is_open(at)) for c in result.dial_plan]
    return render_template("admin/test.html", args=args, result=result, plan=plan, error=None)


def _tables_for_test(which: str) -> RoutingTables:
    context = tables_context()
    if which == "draft":
        draft = _draft()
        return load_table_files(draft.files, context.router.snapshot.layer, "draft")
    return context.router.tables


def _query(args: Mapping[str, str]) -> LocationQuery:
    def get(name: str) -> str:
        return (args.get(name) or "").strip()

    geo: Point | Shape | None = None
    civic: Civic | None = None
    if get("lat") or get("lon"):
        geo = Point(
            _number(get("lat"), "lat"), _number(get("lon"), "lon"), _radius(get("radius_m"))
        )
    if get("pidf"):
        from routing.pidf import parse_pidf

        parsed = parse_pidf(get("pidf").encode())
        geo, civic = geo or parsed.geo, parsed.civic
    if get("zip") or get("county"):
        civic = Civic(
            state=get("state").upper() or None,
            county=get("county") or None,
            city=get("city") or None,
            street=get("street") or None,
            postal_code=get("zip") or None,
        )
    if geo is None and civic is None:
        raise RoutingError("give a position, a ZIP code, a county and state, or a PIDF-LO")
    return LocationQuery(geo=geo, civic=civic, caller=get("caller") or None, at=_at(get))


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise RoutingError(f"{name}: '{text}' is not a number") from None


def _radius(text: str) -> float | None:
    return _number(text, "radius") if text else None


def _at(get: Callable[[str], str]) -> datetime | None:
    if not get("at"):
        return None
    try:
        zone = ZoneInfo(get("timezone") or "America/Chicago")
        local = datetime.fromisoformat(get("at"))
    except (ValueError, ZoneInfoNotFoundError):
        raise RoutingError(
            "date and time: such as 2026-12-25T03:00, in a known time zone"
        ) from None
    return local if local.tzinfo else local.replace(tzinfo=zone)


# -- helpers ----------------------------------------------------------------------------------


def _draft() -> drafts.Draft:
    try:
        return drafts.load_draft(tables_context().versions, g.admin)
    except VersionError as exc:
        abort(409, str(exc))


def _draft_or_none() -> drafts.Draft | None:
    try:
        return drafts.load_draft(tables_context().versions, g.admin)
    except VersionError:
        return None


def _new_problems(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> list[str]:
    """The problems `after` has that `before` had not (a removal must not add any)."""
    known = {str(p) for p in _problems(before)}
    return [str(p) for p in _problems(after) if str(p) not in known]


def _problems(files: Mapping[str, bytes]) -> list[TableError]:
    """What stops the set from being published (nothing when it is valid)."""
    try:
        load_table_files(files, tables_context().router.snapshot.layer, "draft")
    except TablesInvalid as exc:
        return list(exc.problems)
    return []


def _check(files: Mapping[str, bytes]) -> tuple[list[str], list[str]]:
    context = tables_context()
    try:
        tables = load_table_files(files, context.router.snapshot.layer, "draft")
    except TablesInvalid as exc:
        return [str(p) for p in exc.problems], []
    flow = context.settings.flow
    found = table_warnings(tables, flow.psap_api_keys.values(), flow.center_api_keys.values())
    return [], [str(w) for w in found]
