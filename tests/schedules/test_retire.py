"""A retired scheduled journey has no Temporal Schedule, so it fires no more (the real dev server):
retiring deletes it, neither the deployment's sync nor a publish sets it again while the journey is
retired, and reinstating sets it from the latest version."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.schedules.run import sync_journey_schedules, sync_published_schedule
from gridjourney.schedules.sync import schedule_id

ROOT = Path(__file__).resolve().parents[2]


WINTER_PREP = (ROOT / "journeys" / "winter_prep.yaml").read_text(encoding="utf-8")


async def winter_prep_scheduled(engine: AsyncEngine, client: Client) -> Settings:
    """The shipped scheduled journey published, and its Temporal Schedule created by the deployment's
    sync, on task queues of this test's own."""
    await registry.publish(engine, WINTER_PREP, "winter_prep.yaml", ROOT / "templates")
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        task_queue=f"retire-{suffix}",
        send_task_queue=f"retire-sends-{suffix}",
        policy_file=ROOT / "policy.yaml",
    )
    assert [c.change for c in await sync_journey_schedules(engine, client, settings)] == ["created"]
    return settings


async def has_schedule(client: Client, settings: Settings, journey_id: str) -> bool:
    try:
        await client.get_schedule_handle(schedule_id(settings.task_queue, journey_id)).describe()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


async def test_retiring_a_scheduled_journey_deletes_its_schedule_until_it_is_reinstated(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    settings = await winter_prep_scheduled(engine, client)

    await registry.retire(engine, "winter_prep", "marketer")
    change = await sync_published_schedule(engine, client, settings, "winter_prep")
    assert change is not None and change.change == "deleted"
    assert not await has_schedule(client, settings, "winter_prep")
    # a worker starting (the deployment's sync) does not bring it back
    assert await sync_journey_schedules(engine, client, settings) == []
    # nor does a new version published while retired
    await registry.publish(
        engine, WINTER_PREP.replace('at: "10:00"', 'at: "11:00"'), "winter_prep.yaml", ROOT / "templates"
    )
    assert await sync_published_schedule(engine, client, settings, "winter_prep") is None
    assert not await has_schedule(client, settings, "winter_prep")

    await registry.reinstate(engine, "winter_prep")
    change = await sync_published_schedule(engine, client, settings, "winter_prep")
    assert change is not None and (change.change, change.cron) == ("created", "0 11 1 11 *")
    assert await has_schedule(client, settings, "winter_prep")
    await client.get_schedule_handle(change.schedule_id).delete()


async def test_an_unknown_journey_has_no_schedule_to_change(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    settings = Settings(task_queue=f"retire-{uuid.uuid4().hex[:8]}", policy_file=ROOT / "policy.yaml")
    assert await sync_published_schedule(engine, temporal_dev_env.client, settings, "never_published") is None


async def test_a_schedule_left_by_a_retirement_temporal_missed_goes_at_the_next_sync(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    settings = await winter_prep_scheduled(engine, client)
    # retired while Temporal was down (the API answered 503): only the state is stored
    await registry.retire(engine, "winter_prep", "marketer")
    assert await has_schedule(client, settings, "winter_prep")
    for _ in range(100):  # a worker starting, or `journeys schedules --sync` (Temporal's list lags a moment)
        changes = await sync_journey_schedules(engine, client, settings)
        if changes:
            break
        await asyncio.sleep(0.1)
    assert [(c.journey_id, c.change) for c in changes] == [("winter_prep", "deleted")]
    assert not await has_schedule(client, settings, "winter_prep")
