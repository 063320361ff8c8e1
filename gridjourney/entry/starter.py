"""The Temporal start of a journey instance, under the ids and policies of gridjourney/entry/plan.py.

`after_exit` reuses one id, so Temporal alone would let a redelivered trigger start a new instance
once the previous one closed; the trigger of each run is kept in its memo and compared first.
Callers go through gridjourney/entry/enter.py, which also consults the entry record.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.entry.plan import entry_plan
from gridjourney.temporal import CUSTOMER_ID, JOURNEY_ID, JOURNEY_VERSION
from gridjourney.workflows.contracts import EventRef, JourneyInput
from gridjourney.workflows.journey import JourneyWorkflow

MEMO_TRIGGER_EVENT_ID = "trigger_event_id"
MEMO_TRIGGER_POSITION = "trigger_position"


@dataclass(frozen=True)
class StartResult:
    workflow_id: str
    started: bool


async def start_journey(
    client: Client,
    journey: CompiledJourney,
    customer_id: str,
    trigger: EventRef,
    *,
    task_queue: str,
    send_task_queue: str,
) -> StartResult:
    """Start an instance unless Temporal's id policies (or a redelivered trigger) forbid it."""
    plan = entry_plan(journey, customer_id, trigger)
    if plan.id_reuse_policy == WorkflowIDReusePolicy.ALLOW_DUPLICATE and await _entered_with(
        client, plan.workflow_id, trigger
    ):
        return StartResult(plan.workflow_id, started=False)
    try:
        await client.start_workflow(
            JourneyWorkflow.run,
            JourneyInput(
                journey=journey, customer_id=customer_id, trigger=trigger, send_task_queue=send_task_queue
            ),
            id=plan.workflow_id,
            task_queue=task_queue,
            id_reuse_policy=plan.id_reuse_policy,
            id_conflict_policy=plan.id_conflict_policy,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(CUSTOMER_ID, customer_id),
                    SearchAttributePair(JOURNEY_ID, journey.journey_id),
                    SearchAttributePair(JOURNEY_VERSION, journey.version),
                ]
            ),
            memo={MEMO_TRIGGER_EVENT_ID: trigger.event_id, MEMO_TRIGGER_POSITION: trigger.position},
            # A worker of this client on the task queue (`gridjourney run`, a router beside its
            # workers) gets the first workflow task in the start's answer: no trip through the
            # queue. Elsewhere the server queues the task as usual.
            request_eager_start=True,
        )
    except WorkflowAlreadyStartedError:
        return StartResult(plan.workflow_id, started=False)
    return StartResult(plan.workflow_id, started=True)


async def _entered_with(client: Client, workflow_id: str, trigger: EventRef) -> bool:
    """Whether the latest run under this id was started by this trigger, or by a later event."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    memo = await description.memo()
    if memo.get(MEMO_TRIGGER_EVENT_ID) == trigger.event_id:
        return True
    # Positions grow with the log: an event at or before the last run's trigger is a redelivery.
    # Position 0 means "not from the log" (an API entry) and is not compared.
    last_position = memo.get(MEMO_TRIGGER_POSITION)
    return isinstance(last_position, int) and 0 < trigger.position <= last_position
