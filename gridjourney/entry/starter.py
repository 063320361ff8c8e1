"""Entering a journey: the re-entry rules as Temporal workflow ids and id policies, and the start call.

| reentry          | workflow id                                   | reuse policy     |
|------------------|-----------------------------------------------|------------------|
| once             | journey:{id}:{customer}                       | REJECT_DUPLICATE |
| after_exit       | journey:{id}:{customer}                       | ALLOW_DUPLICATE  |
| once_per_window  | journey:{id}:{customer}:w{window bucket}      | REJECT_DUPLICATE |
| every_trigger    | journey:{id}:{customer}:e{trigger event id}   | REJECT_DUPLICATE |

The conflict policy is always FAIL: a running instance is never started twice, and a refused start is
reported as `started=False`. Window buckets are fixed, epoch-aligned intervals of the window's length
(the trigger's `occurred_at` decides the bucket, so a redelivered trigger lands in the same one).
Temporal enforces REJECT_DUPLICATE only while it keeps the closed run (the namespace's retention).

`after_exit` reuses one id, so Temporal alone would let a redelivered trigger start a new instance
once the previous one closed; the trigger of each run is kept in its memo and compared first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.dsl.schema import CompiledJourney
from gridjourney.temporal import CUSTOMER_ID, JOURNEY_ID, JOURNEY_VERSION
from gridjourney.workflows.contracts import EventRef, JourneyInput
from gridjourney.workflows.journey import JourneyWorkflow

MEMO_TRIGGER_EVENT_ID = "trigger_event_id"
MEMO_TRIGGER_POSITION = "trigger_position"


@dataclass(frozen=True)
class EntryPlan:
    workflow_id: str
    id_reuse_policy: WorkflowIDReusePolicy
    id_conflict_policy: WorkflowIDConflictPolicy


@dataclass(frozen=True)
class StartResult:
    workflow_id: str
    started: bool


def instance_base_id(journey_id: str, customer_id: str) -> str:
    return f"journey:{journey_id}:{customer_id}"


def window_bucket(journey: CompiledJourney, trigger: EventRef) -> int:
    window = journey.definition.entry.window
    if window is None:
        raise ValueError(f"journey {journey.journey_id!r} has no entry window")
    occurred_at = trigger.occurred_at
    if occurred_at.tzinfo is None:  # EventRefs come from the store with a zone; be safe anyway
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return int(occurred_at.timestamp() // window.total_seconds())


def entry_plan(journey: CompiledJourney, customer_id: str, trigger: EventRef) -> EntryPlan:
    """The workflow id and id policies that implement the journey's re-entry rule. Pure."""
    base = instance_base_id(journey.journey_id, customer_id)
    reentry = journey.definition.entry.reentry
    reject, fail = WorkflowIDReusePolicy.REJECT_DUPLICATE, WorkflowIDConflictPolicy.FAIL
    if reentry == "once":
        return EntryPlan(base, reject, fail)
    if reentry == "after_exit":
        return EntryPlan(base, WorkflowIDReusePolicy.ALLOW_DUPLICATE, fail)
    if reentry == "once_per_window":
        return EntryPlan(f"{base}:w{window_bucket(journey, trigger)}", reject, fail)
    return EntryPlan(f"{base}:e{trigger.event_id}", reject, fail)  # every_trigger


async def start_journey(
    client: Client,
    journey: CompiledJourney,
    customer_id: str,
    trigger: EventRef,
    *,
    task_queue: str,
    send_task_queue: str,
) -> StartResult:
    """Start an instance unless the re-entry rule (or a redelivered trigger) forbids it."""
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
