"""ScheduleFireWorkflow: one fire of a journey's `schedule` trigger becomes one cohort run.

A Temporal Schedule (schedules/sync.py) starts this workflow at each fire time. It starts the
journey's CohortWorkflow as a child, abandoned (it runs on when this one ends), whose id
`cohort:{journey id}:{fire time}` (as router/cohorts.py names runs) depends on the fire time alone,
to the minute, in UTC: a fire delivered twice (a retry, a backfill of a time already run, a
trigger-now in the same minute) meets the run's id taken (REJECT_DUPLICATE) and starts nothing; the
run's send ledger keys `{run}:{step}:{visit}:{customer}` (workflows/cohort_contracts.py) hold even
after Temporal forgets it. The run's `event` is the fire: `scheduled_for`, `journey_id`. Its
audience is the trigger's `audience`, resolved by the cohort audience code (cohorts/audience.py) as
a `where` filter over every customer. Deterministic, no I/O.

A fire whose input asks `check_retirement` (every schedule the sync writes does) starts its run
through START_FIRE_RUN (schedules/activities.py) instead: the activity reads the journey's state and
starts the run under the start gate (router/start_gate.py), so a fire that comes after a retirement
(its schedule's deletion failed: Temporal was down) starts nothing, and deletes the schedule.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from pydantic import Field

    from gridjourney.dsl.schedule import SCHEDULE_EVENT
    from gridjourney.dsl.schema import AudienceSpec, CohortSpec, CompiledJourney
    from gridjourney.temporal import JOURNEY_ID, JOURNEY_VERSION
    from gridjourney.workflows.cohort import CohortWorkflow
    from gridjourney.workflows.cohort_contracts import CohortInput
    from gridjourney.workflows.contracts import Contract, EventRef

# Set by the server on a workflow a Schedule starts: the time it was due (a trigger-now: the time asked).
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
# The run's key as the fire presents it: the minute, in UTC.
FIRE_KEY_FORMAT = "%Y-%m-%dT%H:%MZ"
# uuid5 namespace of the fires' event ids (cohort_runs.trigger_event_id): stable per run id.
FIRE_EVENT_NAMESPACE = uuid.UUID("6f1c2a52-8d0e-4c1b-9a57-3e2f5b7d9c41")


class ScheduleFireInput(Contract):
    journey: CompiledJourney
    send_task_queue: str
    batch_size: int = Field(500, ge=1)
    concurrency: int = Field(8, ge=1)
    scheduled_for: datetime | None = Field(
        None, description="The fire time; default: the one the Schedule that started this gives."
    )
    check_retirement: bool = Field(
        False,
        description="Start the run through START_FIRE_RUN, which starts nothing for a retired journey "
        "(the sync's schedules ask it; a fire started by hand may not).",
    )


START_FIRE_RUN = "schedule.start_fire_run"
FIRE_CHECKS_RETIREMENT = "fire-checks-retirement"  # the workflow.patched id of that path
# START_FIRE_RUN is retried until the database and Temporal answer, as long as a missed fire is
# still worth running (sync.py CATCH_UP_WINDOW); then the fire fails, having started nothing.
START_FIRE_RUN_TIMEOUT = timedelta(days=1)
StartOutcome = Literal["started", "already started", "retired"]


class StartFireRunInput(Contract):
    run_id: str
    cohort: CohortInput
    task_queue: str = Field(description="Where the run goes: the fire's own queue (its schedule's id).")


def run_search_attributes(journey: CompiledJourney) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(JOURNEY_ID, journey.journey_id),
            SearchAttributePair(JOURNEY_VERSION, journey.version),
        ]
    )


def fire_key(at: datetime) -> str:
    return at.astimezone(UTC).strftime(FIRE_KEY_FORMAT)


def fire_run_id(journey_id: str, at: datetime) -> str:
    return f"cohort:{journey_id}:{fire_key(at)}"


def scheduled_cohort(journey: CompiledJourney) -> CompiledJourney:
    """The journey as CohortWorkflow runs it: the trigger's audience as the cohort's `where`, keyed
    by the fire time."""
    trigger = journey.definition.schedule
    assert trigger is not None and trigger.audience is not None  # the sync schedules these only
    cohort = CohortSpec(key="event.scheduled_for", audience=AudienceSpec(where=trigger.audience))
    definition = journey.definition.model_copy(update={"cohort": cohort})
    return journey.model_copy(update={"definition": definition})


@workflow.defn(name="ScheduleFireWorkflow")
class ScheduleFireWorkflow:
    @workflow.run
    async def run(self, input: ScheduleFireInput) -> str:
        """The run id of this fire's cohort run (started now, or already by an earlier delivery);
        empty when the journey is retired (checked: `check_retirement`), and no run started."""
        info = workflow.info()
        due = input.scheduled_for or info.typed_search_attributes.get(SCHEDULED_START_TIME) or info.start_time
        fire = due.astimezone(UTC).replace(second=0, microsecond=0)
        journey = input.journey
        run_id = fire_run_id(journey.journey_id, fire)
        trigger = EventRef(
            event_id=str(uuid.uuid5(FIRE_EVENT_NAMESPACE, run_id)),
            type=SCHEDULE_EVENT,
            customer_id=None,
            occurred_at=fire,
            payload={"scheduled_for": fire.isoformat(), "journey_id": journey.journey_id},
            position=0,
        )
        cohort = CohortInput(
            journey=scheduled_cohort(journey),
            cohort_key=fire_key(fire),
            trigger=trigger,
            send_task_queue=input.send_task_queue,
            batch_size=input.batch_size,
            concurrency=input.concurrency,
        )
        if input.check_retirement and workflow.patched(FIRE_CHECKS_RETIREMENT):
            outcome: str = await workflow.execute_activity(
                START_FIRE_RUN,
                StartFireRunInput(run_id=run_id, cohort=cohort, task_queue=info.task_queue),
                result_type=str,  # one of StartOutcome's
                schedule_to_close_timeout=START_FIRE_RUN_TIMEOUT,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            if outcome == "retired":
                workflow.logger.info("%s is retired: this fire starts nothing", journey.journey_id)
                return ""
            if outcome == "already started":
                workflow.logger.info("%s has already run: this fire starts nothing", run_id)
            return run_id
        try:
            await workflow.start_child_workflow(
                CohortWorkflow.run,
                cohort,
                id=run_id,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=run_search_attributes(journey),
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("%s has already run: this fire starts nothing", run_id)
        return run_id
