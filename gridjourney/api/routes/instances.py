"""One journey instance or cohort run (a workflow run): live state merged with what Postgres
recorded, and cancellation.

Only journey instances (`journey:...`, JourneyWorkflow) and cohort runs (`cohort:...`,
CohortWorkflow: a DR event's or an outage's run, a scheduled journey's fire) are reachable here: an
id outside those id spaces, or a workflow of another type under one (the scoring schedule's runs,
say), is 404 whatever the key's scope, so a `journeys:write` key can neither read nor cancel the
engine's own workflows.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.api.auth import Principal
from gridjourney.api.cohort_runs import CohortRunView, cohort_run_view
from gridjourney.api.deps import EngineDep, JourneysReader, JourneysWriter, OptionalTemporalDep, TemporalDep
from gridjourney.api.problems import ApiProblem, not_found, problem_responses
from gridjourney.api.routes.journeys import InstanceRow
from gridjourney.api.safety import require_admin_for_safety
from gridjourney.cohorts.queries import FINISHED_STATUSES
from gridjourney.dsl import registry
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.projections import queries
from gridjourney.temporal import JOURNEY_ID, JOURNEY_VERSION
from gridjourney.workflows.cohort_contracts import COHORT_STATE_QUERY, CohortState
from gridjourney.workflows.contracts import JOURNEY_STATE_QUERY, JourneyState

router = APIRouter(prefix="/v1/instances", tags=["instances"])

RPC_TIMEOUT = timedelta(seconds=5)
# Every journey instance id starts so (gridjourney/entry/plan.py), and runs this workflow type
# (`@workflow.defn(name=...)` in gridjourney/workflows/journey.py); every cohort run's id so
# (router/cohorts.py cohort_run_id, schedules/workflow.py), running CohortWorkflow.
JOURNEY_ID_PREFIX = "journey:"
JOURNEY_WORKFLOW_TYPE = "JourneyWorkflow"
COHORT_ID_PREFIX = "cohort:"
COHORT_WORKFLOW_TYPE = "CohortWorkflow"
WORKFLOW_TYPES = {JOURNEY_ID_PREFIX: JOURNEY_WORKFLOW_TYPE, COHORT_ID_PREFIX: COHORT_WORKFLOW_TYPE}
STOPPED = (
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
)
# A query needs a worker to answer; without one it would wait for the RPC deadline.
QUERY_TIMEOUT_S = 5.0


class InstanceView(BaseModel):
    instance_id: str
    kind: Literal["journey", "cohort"] = Field(
        "journey", description="`journey`: one customer's run; `cohort`: a cohort run (see `cohort`)."
    )
    journey_id: str | None
    version: int | None
    customer_id: str | None = Field(description="The customer of a journey instance; null for a cohort run.")
    status: str | None = Field(
        description="active | completed | exited | converted; of a cohort run resolving | running | "
        "completed | exited | failed, or canceled / terminated when Temporal stopped it before it "
        "recorded its end (live when available)."
    )
    current_step: str | None
    workflow_status: str | None = Field(
        None, description="Temporal's status: RUNNING, COMPLETED, CANCELED, ..."
    )
    live: JourneyState | None = Field(None, description="The workflow's answer to the `state` query.")
    live_error: str | None = Field(None, description="Why `live` is missing, when it is.")
    projection: InstanceRow | None = Field(
        None, description="The journey_instances row (may lag the workflow)."
    )
    cohort: CohortRunView | None = Field(
        None, description="A cohort run: its members, those still waiting and where, what it sent."
    )


class CancelRequested(BaseModel):
    instance_id: str
    cancel_requested: bool = True


def _workflow_type(instance_id: str) -> str:
    """The workflow type the id's space runs; 404 before anything is looked up for any other id."""
    for prefix, workflow_type in WORKFLOW_TYPES.items():
        if instance_id.startswith(prefix):
            return workflow_type
    raise not_found("instance", instance_id)


async def _described(
    client: Client, instance_id: str, workflow_type: str
) -> WorkflowExecutionDescription | None:
    """The workflow of that type with this id; None when there is none (or it is of another type)."""
    try:
        description = await client.get_workflow_handle(instance_id).describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description if description.workflow_type == workflow_type else None


async def _workflow_status(
    client: Client, instance_id: str, workflow_type: str
) -> WorkflowExecutionStatus | None:
    """The status of the workflow of that type with this id; None when there is none (or it is of
    another type)."""
    description = await _described(client, instance_id, workflow_type)
    return None if description is None else description.status


async def _run_journey(
    engine: AsyncEngine, description: WorkflowExecutionDescription
) -> CompiledJourney | None:
    """The journey version a run runs: by the search attributes it was started with, else (a run
    started without them) the latest version of the journey its id names (`journey:{id}:...`,
    `cohort:{id}:...`)."""
    attributes = description.typed_search_attributes
    journey_id = attributes.get(JOURNEY_ID) or description.id.split(":")[1]
    version = attributes.get(JOURNEY_VERSION)
    if version is not None:
        journey = await registry.get(engine, journey_id, version)
        if journey is not None:
            return journey
    return await registry.latest(engine, journey_id)


async def _require_admin_for_a_safety_run(
    engine: AsyncEngine, principal: Principal, description: WorkflowExecutionDescription
) -> None:
    # A safety run sends outage notices without consent: stopping one takes them from every member, so
    # it needs what publishing, starting and retiring a safety journey need (api/routes/journeys.py).
    journey = await _run_journey(engine, description)
    if journey is not None:
        require_admin_for_safety(principal, journey.definition.purpose, "cancelling", journey.journey_id)


State = TypeVar("State", JourneyState, CohortState)


async def _query(client: Client, instance_id: str, name: str, result_type: type[State]) -> State:
    handle = client.get_workflow_handle(instance_id)
    state: State = await asyncio.wait_for(
        handle.query(name, result_type=result_type, rpc_timeout=RPC_TIMEOUT), QUERY_TIMEOUT_S
    )
    return state


async def _live(
    client: Client | None, instance_id: str, workflow_type: str, name: str, result_type: type[State]
) -> tuple[WorkflowExecutionStatus | None, State | None, str | None]:
    """(Temporal's status, the state query's answer, why it is missing): what Temporal says of the run,
    never an error, so that what Postgres recorded is shown whatever Temporal does."""
    if client is None:
        return None, None, "Temporal is unavailable; showing the projection only"
    workflow_status: WorkflowExecutionStatus | None = None
    try:
        workflow_status = await _workflow_status(client, instance_id, workflow_type)
        if workflow_status is None:
            return None, None, f"no such {workflow_type} in Temporal"
        return workflow_status, await _query(client, instance_id, name, result_type), None
    except (RPCError, TimeoutError) as error:
        why = f"the state query did not answer: {error or 'timed out (is a worker running?)'}"
    except Exception as error:  # a failed query must not hide the projection
        why = f"the state query failed: {error}"
    return workflow_status, None, why


async def _cohort_run(instance_id: str, engine: EngineDep, client: Client | None) -> InstanceView:
    workflow_status, live, live_error = await _live(
        client, instance_id, COHORT_WORKFLOW_TYPE, COHORT_STATE_QUERY, CohortState
    )
    row, view = await cohort_run_view(engine, instance_id, live)
    if row is None and workflow_status is None:
        raise not_found("instance", instance_id)
    run_status = live.status if live else (row.status if row else None)
    if workflow_status in STOPPED and run_status not in FINISHED_STATUSES:
        # stopped by Temporal before the run recorded its end: say so, not the last status it had
        run_status = workflow_status.name.lower()
    return InstanceView(
        instance_id=instance_id,
        kind="cohort",
        journey_id=row.journey_id if row else None,
        version=row.version if row else None,
        customer_id=None,
        status=run_status,
        current_step=None,
        workflow_status=workflow_status.name if workflow_status else None,
        live_error=live_error,
        cohort=view,
    )


@router.get(
    "/{instance_id}",
    summary="An instance or a cohort run: live workflow state merged with what Postgres recorded",
    description="A journey instance (`journey:...`): the workflow's `state` query and the "
    "journey_instances row. A cohort run (`cohort:{journey}:{key}`, as `/v1/messages` names it): its "
    "members, those still waiting and at which step, and what its batches sent.",
    responses=problem_responses(401, 403, 404),
)
async def get_instance(
    instance_id: str, _: JourneysReader, engine: EngineDep, client: OptionalTemporalDep
) -> InstanceView:
    if _workflow_type(instance_id) == COHORT_WORKFLOW_TYPE:
        return await _cohort_run(instance_id, engine, client)
    async with engine.connect() as conn:
        row = await queries.get_instance(conn, instance_id)
    projection = None if row is None else InstanceRow.model_validate(row)
    workflow_status, live, live_error = await _live(
        client, instance_id, JOURNEY_WORKFLOW_TYPE, JOURNEY_STATE_QUERY, JourneyState
    )
    if projection is None and workflow_status is None:
        raise not_found("instance", instance_id)
    merged: dict[str, Any] = {
        "journey_id": projection.journey_id if projection else None,
        "version": projection.version if projection else None,
        "customer_id": projection.customer_id if projection else None,
        "status": live.status if live else (projection.status if projection else None),
        "current_step": live.current_step if live else (projection.current_step if projection else None),
    }
    return InstanceView(
        instance_id=instance_id,
        workflow_status=workflow_status.name if workflow_status else None,
        live=live,
        live_error=live_error,
        projection=projection,
        **merged,
    )


@router.post(
    "/{instance_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel a running instance or cohort run",
    description="Requests cancellation. A journey instance records `journey.exited` (reason: cancelled) "
    "and stops; a cohort run stops its batches and sends nothing more. Only journey instances and "
    "cohort runs can be cancelled; any other workflow id is 404. A run of a journey with "
    "`purpose: safety` (an outage's notices) needs the `admin` scope: else **403**.",
    responses=problem_responses(401, 403, 404, 409, 503),
)
async def cancel_instance(
    instance_id: str, principal: JourneysWriter, engine: EngineDep, client: TemporalDep
) -> CancelRequested:
    description = await _described(client, instance_id, _workflow_type(instance_id))
    if description is None:
        raise not_found("instance", instance_id)
    await _require_admin_for_a_safety_run(engine, principal, description)
    workflow_status = description.status
    if workflow_status != WorkflowExecutionStatus.RUNNING:
        raise ApiProblem(
            409,
            "not-running",
            "The instance is not running",
            f"it is {workflow_status.name.lower() if workflow_status else 'in no known state'}",
        )
    await client.get_workflow_handle(instance_id).cancel(
        reason=f"cancelled through the API by key {principal.key_id}", rpc_timeout=RPC_TIMEOUT
    )
    return CancelRequested(instance_id=instance_id)
