"""START_FIRE_RUN: a schedule's fire starts its cohort run here, not as a child of the fire, so that
the journey's state is read and the run started under the journey's start gate (router/start_gate.py): a fire
that comes after a retirement (the schedule's deletion failed: Temporal was down at the time, and a
fire missed meanwhile is caught up) starts nothing; and one in flight when the journey is retired
has started its run before the retirement returns. A fire that finds its journey retired deletes its
schedule (the deletion the retirement could not do; `journeys schedules --sync` does it too).
Registered on the main task queue with the cohort activities (worker.py `cohort_activities`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from gridjourney.events.failures import describe
from gridjourney.router.start_gate import starting_runs
from gridjourney.schedules.sync import delete_schedule
from gridjourney.schedules.workflow import (
    START_FIRE_RUN,
    StartFireRunInput,
    StartOutcome,
    run_search_attributes,
)
from gridjourney.workflows.cohort import CohortWorkflow

log = logging.getLogger(__name__)


class ScheduleActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @activity.defn(name=START_FIRE_RUN)
    async def start_fire_run(self, request: StartFireRunInput) -> StartOutcome:
        """Start the fire's cohort run unless its journey is retired; idempotent (the run's id)."""
        journey_id = request.cohort.journey.journey_id
        client = activity.client()
        async with starting_runs(self.engine, [journey_id]) as retired:  # this journey's gate only
            if journey_id not in retired:
                return await _start(client, request)
        await _delete_schedule(client, request.task_queue, journey_id)
        return "retired"

    @property
    def activities(self) -> list[Callable[..., Any]]:
        return [self.start_fire_run]


async def _start(client: Client, request: StartFireRunInput) -> StartOutcome:
    try:
        await client.start_workflow(
            CohortWorkflow.run,
            request.cohort,
            id=request.run_id,
            task_queue=request.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=run_search_attributes(request.cohort.journey),
        )
    except WorkflowAlreadyStartedError:
        return "already started"  # an earlier delivery of this fire, or this activity's retry
    return "started"


async def _delete_schedule(client: Client, task_queue: str, journey_id: str) -> None:
    """The retired journey's schedule goes; failing that, the next fire or sync deletes it."""
    try:
        await delete_schedule(client, task_queue, journey_id)
    except Exception as error:  # the fire started nothing, which is what matters
        log.warning(
            "schedule of retired %s not deleted (%s); the next fire tries again", journey_id, describe(error)
        )
