"""DailyScoringWorkflow on the time-skipping server, with in-memory stand-ins registered under the
real activity names: it pages through customers, continues as new to keep its history small, adds up
the batches, and takes the days after the previous run's as new."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.workflows.scoring import (
    NEXT_CUSTOMERS,
    SCORE_CUSTOMERS,
    CustomerPage,
    DailyScoringWorkflow,
    NextCustomersInput,
    ScanInput,
    ScanResult,
    ScanTotals,
    ScoreInput,
    ScoreResult,
    Skip,
    scan_window,
)

QUEUE = "scoring-test"
THROUGH = date(2025, 3, 20)


@dataclass
class ScanStandIns:
    customers: list[str]
    scored: list[ScoreInput] = field(default_factory=list)

    @activity.defn(name=NEXT_CUSTOMERS)
    async def next_customers(self, request: NextCustomersInput) -> CustomerPage:
        after = [c for c in self.customers if request.after is None or c > request.after]
        return CustomerPage(customer_ids=after[: request.limit])

    @activity.defn(name=SCORE_CUSTOMERS)
    async def score_customers(self, request: ScoreInput) -> ScoreResult:
        self.scored.append(request)
        short = [c for c in request.customer_ids if c.endswith("7")]
        return ScoreResult(
            customers=len(request.customer_ids),
            anomalies_appended=1,
            skipped=len(short),
            reasons=[Skip(customer_id=c, reason="9 days of history; 14 needed") for c in short],
            detector="rule baseline (test)",
        )


async def test_pages_continue_as_new_and_add_up(time_skipping_env: WorkflowEnvironment) -> None:
    standins = ScanStandIns([f"c{n:02d}" for n in range(23)])
    client = time_skipping_env.client
    async with Worker(
        client,
        task_queue=QUEUE,
        workflows=[DailyScoringWorkflow],
        activities=[standins.next_customers, standins.score_customers],
    ):
        handle = await client.start_workflow(
            DailyScoringWorkflow.run,
            ScanInput(since=THROUGH - timedelta(days=1), through=THROUGH, batch_size=5, batches_per_run=2),
            id=f"scan-{uuid.uuid4().hex[:6]}",
            task_queue=QUEUE,
        )
        result: ScanResult = await handle.result()
        # 23 customers in pages of 5: 5 batches, over 3 runs (two pages per run)
        assert [len(s.customer_ids) for s in standins.scored] == [5, 5, 5, 5, 3]
        assert [c for s in standins.scored for c in s.customer_ids] == standins.customers
        assert {(s.since, s.through) for s in standins.scored} == {(THROUGH - timedelta(days=1), THROUGH)}
        assert result.totals.batches == 5 and result.totals.customers == 23
        assert result.totals.anomalies_appended == 5
        assert [r.customer_id for r in result.totals.reasons] == ["c07", "c17"]
        assert result.totals.detector == "rule baseline (test)"
        history = await handle.fetch_history()
        # the last run holds only its own page (next, score, next: empty): continue-as-new keeps
        # every run's history small however many customers
        assert sum(e.HasField("activity_task_scheduled_event_attributes") for e in history.events) == 3


def test_scan_window_follows_the_previous_run() -> None:
    today = date(2025, 3, 21)
    previous = ScanResult(since=date(2025, 3, 17), through=date(2025, 3, 18), totals=ScanTotals())
    assert scan_window(ScanInput(), today, previous) == (date(2025, 3, 18), date(2025, 3, 20))
    assert scan_window(ScanInput(), today, None) == (date(2025, 3, 17), date(2025, 3, 20))
    explicit = ScanInput(since=date(2025, 3, 1), through=date(2025, 3, 5))
    assert scan_window(explicit, today, previous) == (date(2025, 3, 1), date(2025, 3, 5))
