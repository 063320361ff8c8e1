"""The Temporal workers: journeys and their bookkeeping activities on the main task queue; provider
sends on a dedicated queue whose rate limit holds across all workers (DESIGN.md section 8)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from gridjourney.config import Settings
from gridjourney.workflows.journey import JourneyWorkflow


def build_workers(
    client: Client,
    settings: Settings,
    *,
    journey_activities: Sequence[Callable[..., Any]],
    send_activities: Sequence[Callable[..., Any]],
) -> list[Worker]:
    journeys = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[JourneyWorkflow],
        activities=list(journey_activities),
    )
    sends = Worker(
        client,
        task_queue=settings.send_task_queue,
        activities=list(send_activities),
        max_task_queue_activities_per_second=settings.send_rate_per_second,
        # Eager execution would run sends in the workflow's worker and bypass the queue's rate limit.
        disable_eager_activity_execution=True,
    )
    return [journeys, sends]
