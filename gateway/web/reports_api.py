"""The reports JSON API, the CSV export, and Prometheus /metrics (a Flask blueprint).

Register with `app.register_blueprint(bp)` and, in the app factory, `init_app(app, settings)`
(without it the blueprint builds both from the environment on first use). Routes:

    GET /reports/summary?from=YYYY-MM-DD&to=YYYY-MM-DD&by=all|psap|center|connected_center
    GET /reports/volume?period=day|week&by=...&from=...&to=...
    GET /reports/transfers.csv?from=...&to=...

Each also takes `timezone=America/Chicago` (the dates' zone; UTC by default) and
`include_drills=true` (drills and demos are left out by default). The analysts' page,
GET /reports, is gateway/web/reports_page.py.
    GET /metrics

The /reports routes need an analyst key (ANALYST_API_KEYS) as `Authorization: Bearer KEY`
or `X-Analyst-Key: KEY`; a missing or wrong key is a 401. /metrics carries counts only, no
personal data, and is left open for the Prometheus scraper (restrict it at the proxy).
"""

from __future__ import annotations

import functools
import hmac
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


Zones = Callable[[], Sequence[str]]


@dataclass
class ReportsContext:
    """What the blueprints need: settings (for the analyst keys), the store's engine, and
    the PSAPs' time zones (from the routing tables) that reports are offered in."""

    settings: Settings
    engine: Engine
    metrics: CollectorRegistry
    zones: Zones = tuple


def init_app(
    app: Flask, settings: Settings, engine: Engine | None = None, zones: Zones = tuple
) -> None:
    """Give the blueprints their settings, store engine and the PSAPs' time zones."""
    engine = engine or create_store_engine(settings.database_url)
    # A registry of our own: the store's figures, plus this process's counters (enqueued
    # events, enqueue failures) from the default registry. No auto_describe: it would query
    # the store as the app starts, before a worker has migrated it; scrapes query it.
    metrics = CollectorRegistry(auto_describe=False)
    metrics.register(GuardedCollector(StoreCollector(engine), engine))
    app.extensions[EXTENSION] = ReportsContext(settings, engine, metrics, zones)


def context() -> ReportsContext:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if EXTENSION not in app.extensions:
        init_app(app, Settings.from_env())
    return cast(ReportsContext, app.extensions[EXTENSION])


class BadRequest(ValueError):
    """A query parameter the API cannot use (answered with a 400 naming it)."""


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 400


def analyst_key(presented: str) -> str | None:
    """The analyst key (one of ANALYST_API_KEYS) that was presented, or None."""
    keys = context().settings.analyst_api_keys
    # Compare with every key in constant time, so timing says nothing about a near miss.
    matches = [key for key in keys if hmac.compare_digest(presented.encode(), key.encode())]
    return matches[0] if presented and matches else None


def presented_key() -> str:
    """The key of `Authorization: Bearer KEY` or `X-Analyst-Key: KEY` ("" when none)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return request.headers.get("X-Analyst-Key", "").strip()


def analyst_required(view: F) -> F:
    """Answer 401 unless the request carries one of ANALYST_API_KEYS."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if analyst_key(presented_key()) is None:
            return jsonify(error="an analyst key is required"), 401
        return view(*args, **kwargs)

    return cast(F, wrapped)


# The days a report may name: wide enough for any real period, narrow enough that a day
# after the last one is still a date the store and Python can hold.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def _date(args: Mapping[str, str], name: str) -> date | None:
    value = args.get(name)
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}={value!r}: expected YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(f"{name}={value!r}: must be from {FIRST_DAY} to {LAST_DAY}")
    return day


def zone(args: Mapping[str, str], default: str = "UTC") -> str:
    """The `timezone` asked for (an IANA name such as America/Chicago), else `default`."""
    name = args.get("timezone") or default
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise BadRequest(
            f"timezone={name!r}: expected a time zone such as America/Chicago"
        ) from None
    return name


def parse_period(args: Mapping[str, str], default_zone: str = "UTC") -> Period:
    """The period of `from`, `to` (dates in `timezone`) and `include_drills` (true/false).

    Raises:
        BadRequest: naming the parameter that cannot be used.
    """
    drills = args.get("include_drills", "false").lower()
    if drills not in ("true", "false", "1", "0", "on", ""):
        raise BadRequest(f"include_drills={drills!r}: expected true or false")
    period = Period(
        _date(args, "from"),
        _date(args, "to"),
        zone=zone(args, default_zone),
        include_drills=drills in ("true", "1", "on"),
    )
    if period.first and period.last and period.first > period.last:
        raise BadRequest("from is after to")
    return period


def _period() -> Period:
    return parse_period(request.args)


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
    with Session(context().engine) as session:
        rows = summary(session, period, grouping)
    return jsonify(by=grouping, **_period_json(period), rows=[row.to_dict() for row in rows])


@bp.get("/reports/volume")
@analyst_required
def volume_view() -> Response:
    grouping = cast(Grouping, _choice("by", GROUPINGS, "all"))
    bucket = cast(Bucket, _choice("period", ("day", "week"), "day"))
    period = _period()
    with Session(context().engine) as session:
        rows = volume(session, period, bucket, grouping)
    return jsonify(
        by=grouping, period=bucket, **_period_json(period), rows=[r.to_dict() for r in rows]
    )


@bp.get("/reports/transfers.csv")
@analyst_required
def export_view() -> Response:
    period = _period()
    out = io.StringIO()
    with Session(context().engine) as session:
        write_csv(export_rows(session, period), out)
    name = f"transfers_{period.first or 'start'}_{period.last or 'now'}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _period_json(period: Period) -> dict[str, str | bool | None]:
    return {
        "from": period.first.isoformat() if period.first else None,
        "to": period.last.isoformat() if period.last else None,
        "timezone": period.zone,
        "include_drills": period.include_drills,
    }


@bp.get("/metrics")
def metrics_view() -> Response:
    body = generate_latest(context().metrics) + generate_latest(REGISTRY)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
