"""/metrics answers whatever state the store is in: `gateway_store_up` says which.

The store's figures (gateway.adapters.store.metrics) are read at scrape time; with the
store down or not migrated, those queries fail, and the scrape failed with them (a 500,
and Prometheus lost this process's own counters too). Wrapped in `GuardedCollector`, a
scrape leaves the store's figures out and reports `gateway_store_up 0` instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from gateway.adapters.store.status import store_problem

log = logging.getLogger(__name__)


class GuardedCollector(Collector):
    """`inner`'s figures when the store answers and is migrated; always `gateway_store_up`."""

    def __init__(self, inner: Collector, engine: Engine) -> None:
        self.inner = inner
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        figures: list[Metric] = []
        problem = store_problem(self.engine)
        if problem is None:
            try:
                figures = list(self.inner.collect())
            except SQLAlchemyError as exc:
                problem = f"store query failed ({type(exc).__name__})"
        if problem:
            log.warning("store figures left out of /metrics: %s", problem)
        yield from figures
        yield GaugeMetricFamily(
            "gateway_store_up",
            "1 when the outcome store answers and is migrated; 0: its figures are left out.",
            value=0 if problem else 1,
        )
