"""Gauges read from Postgres when Prometheus scrapes: subscription lag, dead letters, ledger rows in
doubt; and the cohort runs' members entered and exited (counters: the cohort path writes no
journey.entered per member, so observability/metrics.py cannot count them as it appends); the
erasures whose Temporal part is pending, and those completed (privacy/temporal_erasures.py: any
process may complete one, so the count is the table's, not a process's).
`DatabaseGauges.refresh` reads them (async, before the exposition is rendered); the collector then
yields that snapshot, so a subscription that disappears leaves no stale series behind."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.failures import describe
from gridjourney.events.subscription_status import SubscriptionStatus, subscription_statuses
from gridjourney.observability import queries
from gridjourney.privacy import queries as erasures
from gridjourney.projections.runner import SUBSCRIPTION_NAME as PROJECTIONS
from gridjourney.router.router import SUBSCRIPTION_NAME as ROUTER

log = logging.getLogger(__name__)

EXPECTED_SUBSCRIPTIONS = (PROJECTIONS, ROUTER)


@dataclass(eq=False)  # hashable by identity: a registry keys its collectors
class DatabaseGauges(Collector):
    engine: AsyncEngine
    subscriptions: list[SubscriptionStatus] = field(default_factory=list)
    in_doubt: dict[str, int] = field(default_factory=dict)
    cohort_entered: dict[tuple[str, bool], int] = field(default_factory=dict)
    cohort_exited: dict[str, int] = field(default_factory=dict)
    erasures_pending: int | None = None  # None: not read (the database is down)
    erasures_completed: int | None = None
    up: bool = False

    async def refresh(self) -> None:
        """Read the figures; a database that cannot be reached sets `gridjourney_database_up` to 0 and
        leaves the other families empty (a scrape never fails for it)."""
        try:
            async with self.engine.connect() as conn:
                self.subscriptions = await subscription_statuses(conn, EXPECTED_SUBSCRIPTIONS)
                self.in_doubt = await queries.ledger_rows_in_doubt(conn)
                self.cohort_entered, self.cohort_exited = await queries.cohort_members(conn)
                self.erasures_pending, self.erasures_completed = await erasures.counts(conn)
            self.up = True
        except Exception as error:  # any failure means the same here: no figures this scrape
            log.warning("metrics: the database cannot be read (%s)", describe(error))
            self.subscriptions, self.in_doubt, self.up = [], {}, False
            self.cohort_entered, self.cohort_exited = {}, {}
            self.erasures_pending = self.erasures_completed = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("gridjourney_database_up", "1 when the last scrape could read Postgres.")
        up.add_metric([], 1.0 if self.up else 0.0)
        yield up
        positions = GaugeMetricFamily(
            "gridjourney_subscription_lag_positions",
            "Events after the subscription's checkpoint, still to handle.",
            labels=["subscription"],
        )
        seconds = GaugeMetricFamily(
            "gridjourney_subscription_lag_seconds",
            "Age of the oldest event the subscription has still to handle (0 when caught up).",
            labels=["subscription"],
        )
        dead = GaugeMetricFamily(
            "gridjourney_dead_letters",
            "Events a subscription set aside (gridjourney subscriptions retry).",
            labels=["subscription"],
        )
        for status in self.subscriptions:
            positions.add_metric([status.name], status.lag_events)
            seconds.add_metric([status.name], status.lag_seconds)
            dead.add_metric([status.name], status.dead_letters)
        doubt = GaugeMetricFamily(
            "gridjourney_ledger_rows_in_doubt",
            "Send ledger rows the provider may hold with no attempt holding them (gridjourney sends list).",
            labels=["status"],
        )
        for ledger_status, count in self.in_doubt.items():
            doubt.add_metric([ledger_status], count)
        yield from (positions, seconds, dead, doubt)
        yield from self._cohort_members()
        yield from self._erasures()

    def _cohort_members(self) -> Iterator[Metric]:
        entered = CounterMetricFamily(
            "gridjourney_cohort_members_entered",
            "Members cohort runs took in (dr_event, outage_notice, ...), by journey and holdout.",
            labels=["journey", "holdout"],
        )
        for (journey, holdout), count in sorted(self.cohort_entered.items()):
            entered.add_metric([journey, "true" if holdout else "false"], count)
        exited = CounterMetricFamily(
            "gridjourney_cohort_members_exited",
            "Members of cohort runs that are over (completed, exited, failed), by journey.",
            labels=["journey"],
        )
        for journey, count in sorted(self.cohort_exited.items()):
            exited.add_metric([journey], count)
        yield from (entered, exited)

    def _erasures(self) -> Iterator[Metric]:
        """The Temporal parts of erasures (privacy/temporal_erasures.py): pending and completed."""
        pending = GaugeMetricFamily(
            "gridjourney_erasures_pending",
            "Erased customers whose workflow executions in Temporal are not shown deleted yet (retried "
            "and checked until none is left; gridjourney privacy pending).",
        )
        if self.erasures_pending is not None:
            pending.add_metric([], self.erasures_pending)
        completed = CounterMetricFamily(
            "gridjourney_erasures_completed",
            "Erasures whose Temporal part is done: a check found none of their workflow executions left.",
        )
        if self.erasures_completed is not None:
            completed.add_metric([], self.erasures_completed)
        yield from (pending, completed)
