"""The call-taker page: a small web form over the PSAP API, for a 911 center whose CAD
system does not call the API itself.

Static files only. Everything the page does goes through /api/v1 with the PSAP key the
call-taker types, kept in the browser tab's sessionStorage (never a cookie, so there is
no session to forge a request with). The page's logic is in gateway/static/call-taker/transfer.mjs,
tested under Node (tests/web).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

# The page's files stay in gateway/static/, where the Node tests (tests/web) import them.
STATIC = Path(__file__).resolve().parent.parent / "static" / "call-taker"

bp = Blueprint("web", __name__, static_folder=str(STATIC), static_url_path="/call-taker/static")

# Only this origin's own files, no inline script or style, never inside another page.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@bp.get("/call-taker")
def call_taker() -> Response:
    """The page itself."""
    return bp.send_static_file("index.html")


@bp.after_request
def secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
