"""Prometheus figures read from the store at scrape time.

The worker writes events in its own processes and the web app may run several gunicorn
workers, so in-process counters would each see a fraction. The store is the one place that
sees everything: each scrape runs a few aggregate queries (an index-only count by kind, and
one pass over `transfers` for the histograms) and reports them as counters and histograms.
Counts only ever grow (events are never deleted), so they behave as Prometheus counters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.adapters.store.models import Transfer, TransferEvent

# Seconds. 15 and 20 are the NENA and SAMHSA answer targets; 24 is "about four rings".
LATENCY_BUCKETS = (5.0, 10.0, 15.0, 20.0, 24.0, 30.0, 45.0, 60.0, 90.0, 120.0)


class StoreCollector(Collector):
    """Collects transfer-event counters and transfer latency histograms from the store."""

    def __init__(self, engine: Engine, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.engine = engine
        self.buckets = tuple(buckets)

    def collect(self) -> Iterator[Metric]:
        with Session(self.engine) as session:
            yield self._events(session)
            yield self._outcomes(session)
            yield self._histogram(
                session,
                "gateway_transfer_answer_seconds",
                "Time from the transfer request to a counselor's line answering.",
                Transfer.answer_s,
            )
            yield self._histogram(
                session,
                "gateway_transfer_accept_seconds",
                "Time from the transfer request to a counselor accepting.",
                Transfer.accept_s,
            )

    def _events(self, session: Session) -> Metric:
        family = CounterMetricFamily(
            "gateway_events_recorded", "Transfer events written to the store.", labels=["kind"]
        )
        query = select(TransferEvent.kind, func.count()).group_by(TransferEvent.kind)
        for kind, count in session.execute(query):
            family.add_metric([kind], count)
        return family

    def _outcomes(self, session: Session) -> Metric:
        family = GaugeMetricFamily(
            "gateway_transfers", "Transfers in the store, by current outcome.", labels=["outcome"]
        )
        query = select(Transfer.outcome, func.count()).group_by(Transfer.outcome)
        for outcome, count in session.execute(query):
            family.add_metric([outcome], count)
        return family

    def _histogram(
        self,
        session: Session,
        name: str,
        documentation: str,
        column: InstrumentedAttribute[float | None],
    ) -> Metric:
        # One pass: a cumulative count per bucket bound, plus the total and the sum.
        bounds = [func.count().filter(column <= bound) for bound in self.buckets]
        query = select(*bounds, func.count(column), func.coalesce(func.sum(column), 0.0))
        *counts, total, total_sum = session.execute(query).one()
        buckets = [(_label(b), int(c)) for b, c in zip(self.buckets, counts, strict=True)]
        buckets.append(("+Inf", int(total)))
        return HistogramMetricFamily(
            name, documentation, buckets=buckets, sum_value=float(total_sum)
        )


def _label(bound: float) -> str:
    return str(int(bound)) if bound.is_integer() else str(bound)
