"""The Temporal workers: journeys, cohort runs, the daily scoring scan and their activities on the main
task queue; provider sends (one message, or a cohort batch) on a dedicated queue whose rate limit holds
across all workers (Temporal's server enforces `max_task_queue_activities_per_second` for the whole
task queue, not per worker).
`ensure_scoring_schedule` creates (or brings up to date) the Temporal Schedule that runs the scan.
`run_worker_process` runs a worker process's event loop (uvloop), profiled on request."""

from __future__ import annotations

import cProfile
import gc
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.worker import Worker

from gridjourney.activities.scores import Scoring
from gridjourney.cohorts.activities import CohortActivities
from gridjourney.config import Settings
from gridjourney.dr.activities import DrActivities
from gridjourney.metering.holidays import US
from gridjourney.schedules.activities import ScheduleActivities
from gridjourney.schedules.workflow import ScheduleFireWorkflow
from gridjourney.workflows.cohort import CohortWorkflow
from gridjourney.workflows.journey import JourneyWorkflow
from gridjourney.workflows.scoring import SCHEDULE_HOUR_UTC, SCHEDULE_ID, DailyScoringWorkflow, ScanInput

# The workflows of the journeys' task queue.
WORKFLOWS = (JourneyWorkflow, CohortWorkflow, DailyScoringWorkflow, ScheduleFireWorkflow)


def build_workflow_worker(client: Client, settings: Settings) -> Worker:
    """The journeys' workflows alone, no activity, for a process that starts journeys (`gridjourney
    router`): with a worker of its own client on the task queue, a start asked eagerly gets the
    journey's first workflow task in its answer instead of a trip through Temporal's queue (about
    46 ms at p50 on this machine). Activities stay with `gridjourney worker`."""
    return Worker(client, task_queue=settings.task_queue, workflows=list(WORKFLOWS))


def build_workers(
    client: Client,
    settings: Settings,
    *,
    journey_activities: Sequence[Callable[..., Any]],
    send_activities: Sequence[Callable[..., Any]],
    scoring_activities: Sequence[Callable[..., Any]] = (),
    cohort_activities: Sequence[Callable[..., Any]] = (),
    shutdown_grace: timedelta = timedelta(0),
) -> list[Worker]:
    """`send_activities` carry SEND_COHORT_BATCH (JourneyActivities.send_activities);
    `cohort_activities` the rest of what CohortWorkflow calls (see `cohort_activities()`). Stopping,
    the workers let running activities finish for up to `shutdown_grace`, then cancel them."""
    journeys = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=[*journey_activities, *scoring_activities, *cohort_activities],
        graceful_shutdown_timeout=shutdown_grace,
    )
    sends = Worker(
        client,
        task_queue=settings.send_task_queue,
        activities=list(send_activities),
        max_task_queue_activities_per_second=settings.send_rate_per_second,
        # Eager execution would run sends in the workflow's worker and bypass the queue's rate limit.
        disable_eager_activity_execution=True,
        graceful_shutdown_timeout=shutdown_grace,
    )
    return [journeys, sends]


# Names a file: the worker process is profiled (cProfile, CPU time) and the stats are written there
# when it stops (`gridjourney bench cohort --profile`, per send worker).
PROFILE_ENV = "GRIDJOURNEY_WORKER_PROFILE"


def run_worker_process(main: Coroutine[Any, Any, None]) -> None:
    """Run a worker process's main coroutine to its end on uvloop: its event loop and socket I/O are
    written in C, so every provider request and Temporal poll costs the send worker less CPU than on
    asyncio's own loop. With PROFILE_ENV set, under cProfile (process time) until it returns."""
    # The modules imported by now (Temporal, SQLAlchemy, pydantic, numpy, scikit-learn...) are millions of
    # objects that live as long as the process: frozen, a full collection no longer walks them (it took
    # about 250 ms every few batches of 500 members, ~0.1 ms per message).
    gc.freeze()
    profile_path = os.environ.get(PROFILE_ENV)
    if not profile_path:
        uvloop.run(main)
        return
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        uvloop.run(main)
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)


def cohort_activities(
    engine: AsyncEngine, models_dir: Path, holiday_calendar: str = US
) -> list[Callable[..., Any]]:
    """The main-queue activities of CohortWorkflow and ScheduleFireWorkflow: the cohort engine's
    (gridjourney/cohorts), DR_PERFORMANCE_BATCH (gridjourney/dr) and START_FIRE_RUN (a schedule's fire
    starts its cohort run through it, unless the journey is retired: gridjourney/schedules).
    `models_dir`: the saved models of `score` steps; `holiday_calendar`: settings.holiday_calendar
    (DR like days of runs whose event names none)."""
    cohort = CohortActivities(engine, Scoring(engine, models_dir), holiday_calendar)
    return [
        *cohort.all,
        *DrActivities(engine, holiday_calendar).activities,
        *ScheduleActivities(engine).activities,
    ]


def scoring_schedule(settings: Settings) -> Schedule:
    """The daily scan at SCHEDULE_HOUR_UTC; a run still going when the next is due: the next is skipped
    (it would scan the same new days)."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            DailyScoringWorkflow.run,
            ScanInput(),
            id=SCHEDULE_ID,
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(hour=[ScheduleRange(SCHEDULE_HOUR_UTC)], minute=[ScheduleRange(0)])
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_scoring_schedule(client: Client, settings: Settings) -> ScheduleHandle:
    """Create the `daily-scoring` schedule, or update an existing one to this configuration (its task
    queue may have changed). Safe to call from every worker at every start."""
    schedule = scoring_schedule(settings)
    try:
        return await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(SCHEDULE_ID)

        def updated(current: ScheduleUpdateInput) -> ScheduleUpdate:
            # keep the schedule's state (paused, notes) as the operator left it
            schedule.state = current.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await handle.update(updated)
        return handle
