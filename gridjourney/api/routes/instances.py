"""One journey instance (a workflow run): live state merged with the projection, and cancellation.

Only journey instances are reachable here: an id outside the journeys' id space, or a workflow of
another type (the scoring schedule's runs, say), is 404 whatever the key's scope, so a
`journeys:write` key can neither read nor cancel the engine's own workflows.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.api.deps import EngineDep, JourneysReader, JourneysWriter, OptionalTemporalDep, TemporalDep
from gridjourney.api.problems import ApiProblem, not_found, problem_responses
from gridjourney.api.routes.journeys import InstanceRow
from gridjourney.projections import queries
from gridjourney.workflows.contracts import JOURNEY_STATE_QUERY, JourneyState

router = APIRouter(prefix="/v1/instances", tags=["instances"])

RPC_TIMEOUT = timedelta(seconds=5)
# Every journey instance id starts so (gridjourney/entry/plan.py), and runs this workflow type
# (`@workflow.defn(name=...)` in gridjourney/workflows/journey.py).
JOURNEY_ID_PREFIX = "journey:"
JOURNEY_WORKFLOW_TYPE = "JourneyWorkflow"
# A query needs a worker to answer; without one it would wait for the RPC deadline.
QUERY_TIMEOUT_S = 5.0


class InstanceView(BaseModel):
    instance_id: str
    journey_id: str | None
    version: int | None
    customer_id: str | None
    status: str | None = Field(description="active | completed | exited | converted (live when available).")
    current_step: str | None
    workflow_status: str | None = Field(
        None, description="Temporal's status: RUNNING, COMPLETED, CANCELED, ..."
    )
    live: JourneyState | None = Field(None, description="The workflow's answer to the `state` query.")
    live_error: str | None = Field(None, description="Why `live` is missing, when it is.")
    projection: InstanceRow | None = Field(
        None, description="The journey_instances row (may lag the workflow)."
    )


class CancelRequested(BaseModel):
    instance_id: str
    cancel_requested: bool = True


def _require_journey_id(instance_id: str) -> None:
    """404 before anything is looked up, unless the id can name a journey instance."""
    if not instance_id.startswith(JOURNEY_ID_PREFIX):
        raise not_found("instance", instance_id)


async def _workflow_status(client: Client, instance_id: str) -> WorkflowExecutionStatus | None:
    """The status of the journey workflow with this id; None when there is none (or it is another type)."""
    try:
        description = await client.get_workflow_handle(instance_id).describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if description.workflow_type != JOURNEY_WORKFLOW_TYPE:
        return None
    return description.status


async def _live_state(client: Client, instance_id: str) -> JourneyState:
    handle = client.get_workflow_handle(instance_id)
    state: JourneyState = await asyncio.wait_for(
        handle.query(JOURNEY_STATE_QUERY, result_type=JourneyState, rpc_timeout=RPC_TIMEOUT), QUERY_TIMEOUT_S
    )
    return state


@router.get(
    "/{instance_id}",
    summary="An instance: live workflow state merged with the projection",
    responses=problem_responses(401, 403, 404),
)
async def get_instance(
    instance_id: str, _: JourneysReader, engine: EngineDep, client: OptionalTemporalDep
) -> InstanceView:
    _require_journey_id(instance_id)
    async with engine.connect() as conn:
        row = await queries.get_instance(conn, instance_id)
    projection = None if row is None else InstanceRow.model_validate(row)
    live: JourneyState | None = None
    live_error: str | None = None
    workflow_status: WorkflowExecutionStatus | None = None
    if client is None:
        live_error = "Temporal is unavailable; showing the projection only"
    else:
        try:
            workflow_status = await _workflow_status(client, instance_id)
            if workflow_status is None:
                live_error = "no such journey workflow in Temporal"
            else:
                live = await _live_state(client, instance_id)
        except (RPCError, TimeoutError) as error:
            live_error = f"the state query did not answer: {error or 'timed out (is a worker running?)'}"
        except Exception as error:  # a failed query must not hide the projection
            live_error = f"the state query failed: {error}"
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
    summary="Cancel a running instance",
    description="Requests cancellation; the workflow records `journey.exited` (reason: cancelled) and stops. "
    "Only journey instances can be cancelled; any other workflow id is 404.",
    responses=problem_responses(401, 403, 404, 409, 503),
)
async def cancel_instance(
    instance_id: str, principal: JourneysWriter, client: TemporalDep
) -> CancelRequested:
    _require_journey_id(instance_id)
    workflow_status = await _workflow_status(client, instance_id)
    if workflow_status is None:
        raise not_found("instance", instance_id)
    if workflow_status != WorkflowExecutionStatus.RUNNING:
        raise ApiProblem(
            409, "not-running", "The instance is not running", f"it is {workflow_status.name.lower()}"
        )
    await client.get_workflow_handle(instance_id).cancel(
        reason=f"cancelled through the API by key {principal.key_id}", rpc_timeout=RPC_TIMEOUT
    )
    return CancelRequested(instance_id=instance_id)
