"""A fire that comes after its journey was retired starts nothing (the real dev server and Postgres),
nor does one that comes while the retirement is being stored (it waits at the start gate).

Retiring deletes the journey's Temporal Schedule; when Temporal cannot be reached then, the schedule
stays, and fires (a missed one is caught up when Temporal is back). The fire asks the journey's state
before it starts its run (schedules/activities.py): retired, it starts no run, and deletes the
schedule the retirement could not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleHandle,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from gridjourney.dsl import registry
from gridjourney.router.queries import START_GATE_LOCK
from gridjourney.schedules.sync import Queues, schedule_id, sync
from gridjourney.schedules.workflow import ScheduleFireWorkflow, fire_run_id
from gridjourney.worker import cohort_activities
from gridjourney.workflows.cohort import CohortWorkflow
from tests.schedules.test_sync import ZONE, journey_yaml, queues


async def fired(schedule: ScheduleHandle) -> ScheduleActionResult:
    """The schedule's first action, once Temporal shows it."""
    for _ in range(100):
        recent = (await schedule.describe()).info.recent_actions
        if recent:
            return recent[0]
        await asyncio.sleep(0.1)
    raise AssertionError("the schedule never fired")


async def scheduled_journey(engine: AsyncEngine, client: Client, where: Queues) -> tuple[str, ScheduleHandle]:
    """A new scheduled journey, published, and its Temporal Schedule created by the sync."""
    journey_id = f"winter_{uuid.uuid4().hex[:6]}"
    await registry.publish(engine, journey_yaml(journey_id), f"{journey_id}.yaml", None)
    journey = await registry.latest(engine, journey_id)
    assert journey is not None
    assert [c.change for c in await sync(client, [journey], where, ZONE)] == ["created"]
    return journey_id, client.get_schedule_handle(schedule_id(where.task_queue, journey_id))


def fire_worker(engine: AsyncEngine, client: Client, where: Queues, models: Path) -> Worker:
    """A worker for the schedule's fire and the cohort run it would start (START_FIRE_RUN included)."""
    return Worker(
        client,
        task_queue=where.task_queue,
        workflows=[ScheduleFireWorkflow, CohortWorkflow],
        activities=cohort_activities(engine, models),
    )


async def test_a_fire_after_the_retirement_starts_nothing_and_deletes_the_schedule(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client, where = temporal_dev_env.client, queues()
    journey_id, schedule = await scheduled_journey(engine, client, where)
    # retired while Temporal could not be reached: the state is stored, the schedule is still there
    assert await registry.retire(engine, journey_id, "marketer") is not None

    async with fire_worker(engine, client, where, tmp_path):
        await schedule.trigger()  # Temporal back: the fire comes
        result = await fired(schedule)
        assert isinstance(result.action, ScheduleActionExecutionStartWorkflow)
        fire = client.get_workflow_handle(result.action.workflow_id, result_type=str)
        assert await fire.result() == ""  # no run

    assert not await exists(
        client.get_workflow_handle(fire_run_id(journey_id, result.scheduled_at)).describe()
    )
    assert not await exists(schedule.describe())  # the deletion the retirement could not do


async def exists(describing: Awaitable[object]) -> bool:
    try:
        await describing
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


async def test_a_fire_in_flight_during_a_retirement_waits_for_it_and_starts_nothing(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client, where = temporal_dev_env.client, queues()
    journey_id, schedule = await scheduled_journey(engine, client, where)

    async with fire_worker(engine, client, where, tmp_path):
        # a retirement holding the gate (router/start_gate.py retire_journey, before its commit)
        async with engine.begin() as retiring:
            await retiring.execute(
                select(func.pg_advisory_xact_lock(START_GATE_LOCK, func.hashtext(journey_id)))
            )
            await schedule.trigger()
            await gate_waited_for(engine)  # the fire's START_FIRE_RUN waits at the gate
            # read now: once past the gate, the fire finds the journey retired and deletes its schedule
            result = await fired(schedule)
            assert await registry.retire(engine, journey_id, "marketer") is not None
        assert isinstance(result.action, ScheduleActionExecutionStartWorkflow)
        assert await client.get_workflow_handle(result.action.workflow_id, result_type=str).result() == ""
    assert not await exists(
        client.get_workflow_handle(fire_run_id(journey_id, result.scheduled_at)).describe()
    )


async def gate_waited_for(engine: AsyncEngine) -> None:
    """Until a session waits for a start gate (a journey's: router/queries.py START_GATE_LOCK)."""
    waiting = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :key AND objsubid = 2 "
        "AND NOT granted"
    ).bindparams(key=START_GATE_LOCK)
    for _ in range(200):
        async with engine.connect() as conn:
            if (await conn.execute(waiting)).scalar_one():
                return
        await asyncio.sleep(0.05)
    raise AssertionError("nothing waited for the start gate")
