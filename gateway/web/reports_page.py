"""The analysts' reports page, GET /reports: charts and breakdowns, drawn on the server.

Signed in with an analyst key (ANALYST_API_KEYS), either typed in the page's sign-in form
(which sets a session cookie) or sent as `Authorization: Bearer KEY` by a script. Without a
key the page is only the sign-in form. No script runs in the page; charts are inline SVG
(gateway/web/charts.py) and the figures of each are also in a table. The JSON routes next
to it (/reports/summary, /reports/volume, /reports/transfers.csv) are gateway/web/reports_api.py.

The session cookie holds no key: it is the time it was issued and an HMAC of that time under
the analyst key used, so removing a key from ANALYST_API_KEYS ends its sessions. Forms carry
a CSRF token that must match a cookie of its own (double submit); both cookies are
HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, g, redirect, render_template, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from gateway.adapters.store.reports import Period
from gateway.web import report_figures
from gateway.web.reports_api import BadRequest, analyst_key, context, parse_period, presented_key
from routing.model import RoutingTables

bp = Blueprint(
    "reports_page",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/reports/static",
)

SESSION_COOKIE = "reports_session"
CSRF_COOKIE = "reports_csrf"
SESSION_S = 12 * 3600  # a working day; then the analyst signs in again
DEFAULT_WEEKS = 12

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def psap_zones(tables: RoutingTables) -> list[str]:
    """The time zones of the partnership's PSAPs, as the routing tables give them."""
    return [psap.timezone for psap in tables.psaps.values()]


@bp.after_request
def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if g.get("new_csrf"):
        _set_cookie(response, CSRF_COOKIE, g.new_csrf, SESSION_S)
    return response


def _set_cookie(response: BaseResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/reports",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )


def _csrf_token() -> str:
    token = request.cookies.get(CSRF_COOKIE, "")
    if not token:
        token = g.new_csrf = g.get("new_csrf") or secrets.token_urlsafe(32)
    return token


def _csrf_ok() -> bool:
    cookie, form = request.cookies.get(CSRF_COOKIE, ""), request.form.get("csrf_token", "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), form.encode())


def _session_token(key: str, issued: int) -> str:
    mac = hmac.new(key.encode(), f"reports-session:{issued}".encode(), hashlib.sha256)
    return f"{issued}.{mac.hexdigest()}"


def _session_ok(token: str) -> bool:
    issued, _, _ = token.partition(".")
    if not issued.isdigit() or not 0 <= time.time() - int(issued) < SESSION_S:
        return False
    keys = context().settings.analyst_api_keys
    return any(hmac.compare_digest(token, _session_token(k, int(issued))) for k in keys)


def _signed_in() -> bool:
    return analyst_key(presented_key()) is not None or _session_ok(
        request.cookies.get(SESSION_COOKIE, "")
    )


def _sign_in_form(error: str = "", status: int = 200) -> tuple[str, int]:
    return render_template("reports/sign_in.html", error=error, csrf=_csrf_token()), status


@bp.get("/reports")
def page() -> Any:
    """The report, or only the sign-in form without a key."""
    if not _signed_in():
        tried = bool(presented_key())
        return _sign_in_form("That is not an analyst key." if tried else "", 401 if tried else 200)
    zones = _zones()
    try:
        period = _period(request.args, zones.most_common(1)[0][0] if zones else "UTC")
    except BadRequest as exc:
        return _render(None, zones, str(exc)), 400
    return _render(period, zones)


@bp.post("/reports/sign-in")
def sign_in() -> Any:
    if not _csrf_ok():
        return _sign_in_form("The form had expired. Please sign in again.", 400)
    key = analyst_key(request.form.get("key", "").strip())
    if key is None:
        return _sign_in_form("That is not an analyst key.", 401)
    response = redirect("/reports", 303)
    _set_cookie(response, SESSION_COOKIE, _session_token(key, int(time.time())), SESSION_S)
    return response


@bp.post("/reports/sign-out")
def sign_out() -> Any:
    if not _csrf_ok():
        return _sign_in_form("The form had expired. Please try again.", 400)
    response = redirect("/reports", 303)
    response.delete_cookie(SESSION_COOKIE, path="/reports")
    return response


def _zones() -> Counter[str]:
    return Counter(context().zones())


def _period(args: Mapping[str, str], default_zone: str) -> Period:
    """The asked period; a missing end is today where the report is, and a missing start
    twelve weeks before the end."""
    period = parse_period(args, default_zone)
    last = period.last or datetime.now(UTC).astimezone(ZoneInfo(period.zone)).date()
    first = period.first or last - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
    if first > last:
        raise BadRequest(f"from={first.isoformat()!r} is after today")
    return replace(period, first=first, last=last)


def _zone_choices(zones: Iterable[str], current: str) -> list[str]:
    return sorted({*zones, "UTC", current})


def _render(period: Period | None, zones: Counter[str], error: str = "") -> str:
    figures = None
    if period is not None:
        with Session(context().engine) as session:
            figures = report_figures.build(session, period)
    return render_template(
        "reports/report.html",
        period=period,
        figures=figures,
        error=error,
        zones=_zone_choices(zones, period.zone if period else "UTC"),
        args=request.args,
        csrf=_csrf_token(),
    )
