"""Syncing the journeys' schedules as the deployment runs them: the latest published versions
(dsl/registry.py), this deployment's queues and the utility's zone (the compliance policy).

A retired journey has no schedule: retiring deletes it, and neither a sync nor a publish sets it
again until the journey is reinstated (which sets it from the latest version)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.policy.loader import policy_from_settings
from gridjourney.schedules.sync import (
    Queues,
    ScheduleChange,
    delete_schedule,
    scheduled_journeys,
    sync,
    sync_one,
)


def deployment_queues(settings: Settings) -> Queues:
    return Queues(
        task_queue=settings.task_queue,
        send_task_queue=settings.send_task_queue,
        batch_size=settings.cohort_batch_size,
        concurrency=settings.cohort_concurrency,
    )


async def sync_journey_schedules(
    engine: AsyncEngine, client: Client, settings: Settings
) -> list[ScheduleChange]:
    journeys = await registry.all_latest(engine)  # not the retired: their schedules are deleted
    # the policy is read only when a journey has a schedule (deleting stale schedules needs no zone)
    zone = policy_from_settings(settings).default_time_zone if scheduled_journeys(journeys) else "UTC"
    return await sync(client, journeys, deployment_queues(settings), zone)


def touches_schedules(published: CompiledJourney, previous: CompiledJourney | None) -> bool:
    """Whether publishing `published` over `previous` (the latest version before it) changes a
    schedule: only then need a publish reach Temporal."""
    return published.definition.schedule is not None or (
        previous is not None and previous.definition.schedule is not None
    )


async def sync_published_schedule(
    engine: AsyncEngine, client: Client, settings: Settings, journey_id: str
) -> ScheduleChange | None:
    """The journey's schedule in step with its latest published version (a publish just stored it),
    so a scheduled journey published through the API or the CLI fires without a worker restart; and
    with its state: retired, it has none (retiring and reinstating call this too)."""
    journey = await registry.latest(engine, journey_id)
    if journey is None:
        return None
    if await registry.retirement(engine, journey_id) is not None:
        return await delete_schedule(client, settings.task_queue, journey_id)
    zone = policy_from_settings(settings).default_time_zone if journey.definition.schedule else "UTC"
    return await sync_one(client, journey, deployment_queues(settings), zone)
