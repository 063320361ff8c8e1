"""enter_journey against real Postgres and the Temporal dev server: the entry record decides what
Temporal's id policies cannot (a sliding window, and runs Temporal no longer keeps).

No worker serves the task queue here: the instances only have to exist, and are removed at the end."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.entry.enter import enter_journey
from gridjourney.entry.starter import StartResult
from gridjourney.workflows.contracts import EventRef
from tests.entry.builders import journey, trigger
from tests.entry.retention import forget_run

WINDOW = timedelta(days=30)
# An epoch-aligned 30-day bucket boundary: fixed buckets would put two triggers a few days apart,
# on either side of it, in different windows.
BOUNDARY = datetime.fromtimestamp(
    (datetime(2025, 6, 1, tzinfo=UTC).timestamp() // WINDOW.total_seconds() + 1) * WINDOW.total_seconds(), UTC
)


class Entries:
    def __init__(self, engine: AsyncEngine, env: WorkflowEnvironment) -> None:
        self.engine = engine
        self.env = env
        self.customer = f"c-{uuid.uuid4().hex[:8]}"
        self.task_queue = f"entry-{uuid.uuid4().hex[:8]}"
        self.started: list[str] = []

    def trigger(self, occurred_at: datetime, position: int) -> EventRef:
        return trigger(str(uuid.uuid4()), occurred_at, position, customer_id=self.customer)

    async def enter(self, rule: CompiledJourney, event: EventRef) -> StartResult:
        result = await enter_journey(
            self.engine,
            self.env.client,
            rule,
            self.customer,
            event,
            position=event.position,
            task_queue=self.task_queue,
            send_task_queue=self.task_queue,
        )
        if result.started:
            self.started.append(result.workflow_id)
        return result

    async def remove_all(self) -> None:
        for workflow_id in self.started:
            await forget_run(self.env.client, workflow_id)


async def test_once_per_window_slides_from_the_last_entry(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    entries = Entries(engine, temporal_dev_env)
    rule = journey("{reentry: once_per_window, window: 30d}")
    first = entries.trigger(BOUNDARY - timedelta(days=1), position=1)
    try:
        assert (await entries.enter(rule, first)).started
        assert not (await entries.enter(rule, entries.trigger(BOUNDARY + timedelta(days=2), 2))).started
        assert not (await entries.enter(rule, first)).started  # redelivered
        assert not (
            await entries.enter(rule, entries.trigger(first.occurred_at + timedelta(days=29), 3))
        ).started
        later = entries.trigger(first.occurred_at + timedelta(days=31), position=4)
        assert (await entries.enter(rule, later)).started
        assert not (await entries.enter(rule, later)).started  # redelivered
        assert len(entries.started) == 2
    finally:
        await entries.remove_all()


async def test_the_record_holds_after_temporal_has_forgotten_the_run(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    """Temporal refuses a duplicate id only while it keeps the closed run (its retention)."""
    entries = Entries(engine, temporal_dev_env)
    now = datetime.now(UTC)
    once, every = journey("{reentry: once}"), journey("{reentry: every_trigger}")
    first = entries.trigger(now, position=1)
    try:
        entered = [await entries.enter(once, first), await entries.enter(every, first)]
        assert all(result.started for result in entered)
        for result in entered:
            await forget_run(temporal_dev_env.client, result.workflow_id)
        entries.started.clear()
        assert not (await entries.enter(once, entries.trigger(now, position=2))).started
        assert not (await entries.enter(every, first)).started  # redelivered
    finally:
        await entries.remove_all()


async def test_concurrent_entries_start_one_instance(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    """Two triggers entered at once (the router and an API start, say) cannot both pass the check."""
    entries = Entries(engine, temporal_dev_env)
    rule = journey("{reentry: once_per_window, window: 30d}")
    now = datetime.now(UTC)
    try:
        results = await asyncio.gather(
            *(entries.enter(rule, entries.trigger(now, position)) for position in range(1, 5))
        )
        assert sum(result.started for result in results) == 1
    finally:
        await entries.remove_all()
