"""The reports JSON API, the CSV export, and Prometheus /metrics (a Flask blueprint).

Register with `app.register_blueprint(bp)` and, in the app factory, `init_app(app, settings)`
(without it the blueprint builds both from the environment on first use). Routes:

    GET /reports/summary?from=YYYY-MM-DD&to=YYYY-MM-DD&by=all|psap|center|connected_center
    GET /reports/volume?period=day|week&by=...&from=...&to=...
    GET /reports/transfers.csv?from=...&to=...
    GET /metrics

The /reports routes need an analyst key (ANALYST_API_KEYS) as `Authorization: Bearer KEY`
or `X-Analyst-Key: KEY`; a missing or wrong key is a 401. /metrics carries counts only, no
personal data, and is left open for the Prometheus scraper (restrict it at the proxy).
"""

from __future__ import annotations

import functools
import hmac
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

# Imported for its counters (events enqueued, enqueue failures), served with the store's.
from gateway.adapters import queueing  # noqa: F401
from gateway.adapters.store.db import create_store_engine
from gateway.adapters.store.guarded_metrics import GuardedCollector
from gateway.adapters.store.metrics import StoreCollector
from gateway.adapters.store.reports import (
    GROUPINGS,
    Bucket,
    Grouping,
    Period,
    export_rows,
    summary,
    volume,
    write_csv,
)
from gateway.settings import Settings

bp = Blueprint("reports", __name__)

EXTENSION = "gateway.reports"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ReportsContext:
    """What the blueprint needs: settings (for the analyst keys) and the store's engine."""

    settings: Settings
    engine: Engine
    metrics: CollectorRegistry


def init_app(app: Flask, settings: Settings, engine: Engine | None = None) -> None:
    """Give the blueprint its settings and store engine (call from the app factory)."""
    engine = engine or create_store_engine(settings.database_url)
    # A registry of our own: the store's figures, plus this process's counters (enqueued
    # events, enqueue failures) from the default registry. No auto_describe: it would query
    # the store as the app starts, before a worker has migrated it; scrapes query it.
    metrics = CollectorRegistry(auto_describe=False)
    metrics.register(GuardedCollector(StoreCollector(engine), engine))
    app.extensions[EXTENSION] = ReportsContext(settings, engine, metrics)


def _context() -> ReportsContext:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if EXTENSION not in app.extensions:
        init_app(app, Settings.from_env())
    return cast(ReportsContext, app.extensions[EXTENSION])


class BadRequest(ValueError):
    """A query parameter the API cannot use (answered with a 400 naming it)."""


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 400


def _presented_key() -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return request.headers.get("X-Analyst-Key", "").strip()


def analyst_required(view: F) -> F:
    """Answer 401 unless the request carries one of ANALYST_API_KEYS."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        presented = _presented_key().encode()
        keys = _context().settings.analyst_api_keys
        # Compare with every key in constant time, so timing says nothing about a near miss.
        matches = [hmac.compare_digest(presented, key.encode()) for key in keys]
        if not presented or not any(matches):
            return jsonify(error="an analyst key is required"), 401
        return view(*args, **kwargs)

    return cast(F, wrapped)


# The days a report may name: wide enough for any real period, narrow enough that a day
# after the last one is still a date the store and Python can hold.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def _date(name: str) -> date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}={value!r}: expected YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(f"{name}={value!r}: must be from {FIRST_DAY} to {LAST_DAY}")
    return day


def _period() -> Period:
    period = Period(_date("from"), _date("to"))
    if period.first and period.last and period.first > period.last:
        raise BadRequest("from is after to")
    return period


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.args.get(name, default)
    if value not in choices:
        raise BadRequest(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


@bp.get("/reports/summary")
@analyst_required
def summary_view() -> Response:
    grouping = cast(Grouping, _choice("by", GROUPINGS, "all"))
    period = _period()
    with Session(_context().engine) as session:
        rows = summary(session, period, grouping)
    return jsonify(by=grouping, **_period_json(period), rows=[row.to_dict() for row in rows])


@bp.get("/reports/volume")
@analyst_required
def volume_view() -> Response:
    grouping = cast(Grouping, _choice("by", GROUPINGS, "all"))
    bucket = cast(Bucket, _choice("period", ("day", "week"), "day"))
    period = _period()
    with Session(_context().engine) as session:
        rows = volume(session, period, bucket, grouping)
    return jsonify(
        by=grouping, period=bucket, **_period_json(period), rows=[r.to_dict() for r in rows]
    )


@bp.get("/reports/transfers.csv")
@analyst_required
def export_view() -> Response:
    period = _period()
    out = io.StringIO()
    with Session(_context().engine) as session:
        write_csv(export_rows(session, period), out)
    name = f"transfers_{period.first or 'start'}_{period.last or 'now'}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _period_json(period: Period) -> dict[str, str | None]:
    return {
        "from": period.first.isoformat() if period.first else None,
        "to": period.last.isoformat() if period.last else None,
    }


@bp.get("/metrics")
def metrics_view() -> Response:
    body = generate_latest(_context().metrics) + generate_latest(REGISTRY)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
