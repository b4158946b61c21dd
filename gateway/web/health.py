"""Health and readiness for load balancers and orchestrators (a Flask blueprint).

    GET /healthz   200 {"status": "up"}: the process answers HTTP.
    GET /readyz    200 {"status": "ready"}, or 503 {"status": "not-ready", "missing": [...]}

Ready means every part a transfer needs answers: the live-state Redis, the outcome store
(reachable and migrated), and a routing-table version loaded. Both are unauthenticated,
cheap (a Redis PING and one small query) and carry no personal data: no URL, host or
caller detail, only what is missing. A process that is up but not ready still answers
Twilio with TwiML that keeps the caller with 911; take it out of the load balancer, do not
restart it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis
from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine

from gateway.adapters.store.status import store_problem

bp = Blueprint("health", __name__)
EXTENSION = "gateway.health"


@dataclass(frozen=True)
class Probes:
    """What readiness asks.

    Attributes:
        redis: the live-state Redis client.
        engine: the outcome store's engine.
        tables_version: the loaded routing tables' version ("" or None: none loaded).
    """

    redis: redis.Redis
    engine: Engine
    tables_version: Callable[[], str | None]

    def missing(self) -> list[str]:
        """What is not ready, one short phrase each; empty when all is."""
        missing = [] if self._redis_answers() else ["redis unreachable"]
        problem = store_problem(self.engine)
        if problem:
            missing.append(problem)
        if not self.tables_version():
            missing.append("no routing-table version loaded")
        return missing

    def _redis_answers(self) -> bool:
        try:
            return bool(self.redis.ping())
        except (redis.RedisError, OSError):
            return False


def init_app(app: Flask, probes: Probes) -> None:
    """Register the blueprint with what its readiness check asks."""
    app.extensions[EXTENSION] = probes
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="up")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    probes: Probes = current_app.extensions[EXTENSION]
    missing = probes.missing()
    if missing:
        return jsonify(status="not-ready", missing=missing), 503
    return jsonify(status="ready")
