"""The tables' web parts in one call for the app factory: the admin API and the /admin pages."""

from __future__ import annotations

from flask import Flask

from gateway.settings import Settings
from gateway.tables import api
from gateway.tables.admin import init_admin
from gateway.tables.bundle import MAX_ZIP_BYTES
from gateway.tables.service import TableVersions
from gateway.web import limits
from routing.engine import Router


def init_app(
    app: Flask, settings: Settings, router: Router, versions: TableVersions | None = None
) -> None:
    """Register /api/v1/tables and /admin on `app`, routing tests with `router`."""
    api.init_app(app, settings, router, versions)
    app.register_blueprint(api.bp)
    init_admin(app, dict(settings.admin_api_keys))
    # A table set is larger than the 1 MiB every other request is held to; the zip reader
    # bounds what it unpacks (gateway.tables.bundle).
    for blueprint in (api.bp.name, "admin"):
        limits.set_body_limit(app, blueprint, MAX_ZIP_BYTES)
