"""Syncing the journeys' schedules as the deployment runs them: the latest published versions
(dsl/registry.py), this deployment's queues and the utility's zone (the compliance policy)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.policy.loader import policy_from_settings
from gridjourney.schedules.sync import Queues, ScheduleChange, scheduled_journeys, sync


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
    journeys = await registry.all_latest(engine)
    # the policy is read only when a journey has a schedule (deleting stale schedules needs no zone)
    zone = policy_from_settings(settings).default_time_zone if scheduled_journeys(journeys) else "UTC"
    return await sync(client, journeys, deployment_queues(settings), zone)
