"""Retiring and reinstating a journey: `POST /v1/journeys/{id}/retire` and `.../reinstate`.

A retired journey starts no new runs: no entries from its trigger events (the router reads the state
again, under the journey's start gate, for each event that may start it, and retiring waits only for
the starts of this journey in flight, not for other journeys' or a whole batch: router/start_gate.py),
no manual starts (409), no cohort runs, and no schedule fires (its Temporal Schedule is deleted; a
fire that still comes, the deletion having failed, finds the journey retired and starts nothing:
schedules/activities.py; reinstating sets the schedule again from the latest version). Runs already
going carry on to their end, unless the retirement asks `cancel_running`: then each is cancelled as
POST /v1/instances/{id}/cancel cancels one (the runs Temporal lists as running under the journey). A
version published while the journey is retired stays retired until it is reinstated: retirement
belongs to the journey, not to a version. Both calls are idempotent.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field
from temporalio.client import Client

from gridjourney.api.deps import EngineDep, JourneysWriter, SettingsDep, TemporalClientProvider
from gridjourney.api.problems import RETRY_AFTER_SECONDS, ApiProblem, not_found, problem_responses
from gridjourney.api.routes.instances import COHORT_WORKFLOW_TYPE, JOURNEY_WORKFLOW_TYPE, RPC_TIMEOUT
from gridjourney.api.safety import require_admin_if_ever_safety
from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.router import start_gate
from gridjourney.schedules.run import sync_published_schedule

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])

RUNNING_CARRY_ON = (
    "runs already going carry on to their end (cancel one with POST /v1/instances/{instance_id}/cancel)"
)
NEW_VERSIONS = "a version published while the journey is retired stays retired until it is reinstated"


# A journey id (as the language admits it) or a task queue name: safe inside a visibility query's quotes.
QUOTABLE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


class RetireOptions(BaseModel):
    cancel_running: bool = Field(
        False,
        description="Also cancel the journey's runs going now (each records its exit, reason cancelled), "
        "as POST /v1/instances/{id}/cancel does. Default: they carry on to their end.",
    )


class JourneyState(BaseModel):
    journey_id: str
    state: Literal["active", "retired"]
    changed: bool = Field(description="False when the journey was already in this state (nothing changed).")
    retired_at: datetime | None = None
    retired_by: str | None = Field(None, description="The name of the key that retired it.")
    schedule: Literal["created", "updated", "unchanged", "deleted"] | None = Field(
        None,
        description="For a journey with a `schedule` trigger: what this did to its Temporal Schedule "
        "(deleted on retire, set again on reinstate).",
    )
    cancelled: list[str] | None = Field(
        None, description="With `cancel_running`: the runs whose cancellation was requested (workflow ids)."
    )
    note: str = Field(description="What the state means for new and running runs.")


async def cancel_journey_runs(client: Client, task_queue: str, journey_id: str, reason: str) -> list[str]:
    """Request the cancellation of every run of the journey Temporal lists as running on this
    deployment's task queue (its journey instances and cohort runs, by their JourneyId search
    attribute; another deployment sharing the namespace has its own queue), as the cancel route does
    one. Temporal's list lags a start briefly: a run started in that moment is missed (ask again)."""
    if QUOTABLE.fullmatch(journey_id) is None or QUOTABLE.fullmatch(task_queue) is None:
        raise ValueError(f"not a journey id and task queue: {journey_id!r}, {task_queue!r}")
    cancelled = []
    query = f"JourneyId = '{journey_id}' AND TaskQueue = '{task_queue}' AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query):
        if execution.workflow_type in (JOURNEY_WORKFLOW_TYPE, COHORT_WORKFLOW_TYPE):
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            await handle.cancel(reason=reason, rpc_timeout=RPC_TIMEOUT)
            cancelled.append(execution.id)
    return sorted(cancelled)


async def _latest(engine: EngineDep, journey_id: str) -> CompiledJourney:
    journey = await registry.latest(engine, journey_id)
    if journey is None:
        raise not_found("journey", journey_id)
    return journey


def _temporal_unavailable(journey_id: str, done: str, what: str) -> ApiProblem:
    return ApiProblem(
        503,
        "temporal-unavailable",
        f"The journey is {done}; {what} not done yet",
        f"{journey_id} is {done}, but Temporal could not be reached for {what}: send the same request "
        "again (it is idempotent)",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _sync_schedule(
    request: Request, engine: EngineDep, settings: Settings, journey: CompiledJourney, done: str
) -> Literal["created", "updated", "unchanged", "deleted"] | None:
    """The journey's schedule in step with its state; only a scheduled journey needs Temporal."""
    if journey.definition.schedule is None:
        return None
    provider: TemporalClientProvider = request.app.state.temporal_client_provider
    try:
        client = await provider()
        change = await sync_published_schedule(engine, client, settings, journey.journey_id)
    except Exception as exc:  # not reachable or refused: the state is stored, the schedule not yet
        raise _temporal_unavailable(journey.journey_id, done, "its schedule") from exc
    return change.change if change is not None else None


@router.post(
    "/{journey_id}/retire",
    summary="Retire a journey: it starts no new runs",
    description=(
        "From the next event on, the journey starts no new runs: not from its trigger events, not by "
        "hand (**409**), not as a cohort, not on its schedule (its Temporal Schedule is deleted). "
        'Runs already going carry on, unless the body asks `{"cancel_running": true}`. Idempotent: '
        "retiring a retired journey changes nothing (`changed: false`). A `safety` journey needs the "
        f"`admin` scope. Then {NEW_VERSIONS}."
    ),
    responses=problem_responses(401, 403, 404, 503),
)
async def retire_journey(
    journey_id: str,
    request: Request,
    principal: JourneysWriter,
    engine: EngineDep,
    settings: SettingsDep,
    options: Annotated[
        RetireOptions | None,
        Body(
            openapi_examples={
                "stop_now": {"summary": "Retire and stop its runs", "value": {"cancel_running": True}}
            }
        ),
    ] = None,
) -> JourneyState:
    journey = await _latest(engine, journey_id)
    await require_admin_if_ever_safety(engine, principal, journey_id, "retiring")
    try:
        retired = await start_gate.retire_journey(engine, journey_id, principal.name)
    except start_gate.GateBusy as busy:
        raise ApiProblem(
            503,
            "runs-being-started",
            "The journey is not retired yet: runs of it are being started",
            f"{journey_id} is still active: {busy}; send the same request again (it is idempotent)",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from busy
    if retired is None:  # versions are never deleted: only a journey never published is unknown
        raise not_found("journey", journey_id)
    retirement, changed = retired
    schedule = await _sync_schedule(request, engine, settings, journey, "retired")
    cancelled = None
    if options is not None and options.cancel_running:
        provider: TemporalClientProvider = request.app.state.temporal_client_provider
        try:
            client = await provider()
            reason = f"journey {journey_id} retired through the API by key {principal.key_id}"
            cancelled = await cancel_journey_runs(client, settings.task_queue, journey_id, reason)
        except Exception as exc:
            raise _temporal_unavailable(journey_id, "retired", "cancelling its runs") from exc
    going = "runs already going were cancelled" if cancelled is not None else RUNNING_CARRY_ON
    return JourneyState(
        journey_id=journey_id,
        state="retired",
        changed=changed,
        retired_at=retirement.retired_at,
        retired_by=retirement.retired_by,
        schedule=schedule,
        cancelled=cancelled,
        note=f"no new runs start; {going}; {NEW_VERSIONS}",
    )


@router.post(
    "/{journey_id}/reinstate",
    summary="Reinstate a retired journey: it starts new runs again",
    description=(
        "The latest version starts new runs again, from the next event on (events before it are not "
        "replayed); a scheduled journey's Temporal Schedule is set again. Idempotent: reinstating an "
        "active journey changes nothing (`changed: false`). A `safety` journey needs the `admin` scope."
    ),
    responses=problem_responses(401, 403, 404, 503),
)
async def reinstate_journey(
    journey_id: str, request: Request, principal: JourneysWriter, engine: EngineDep, settings: SettingsDep
) -> JourneyState:
    journey = await _latest(engine, journey_id)
    await require_admin_if_ever_safety(engine, principal, journey_id, "reinstating")
    changed = await registry.reinstate(engine, journey_id)
    if changed is None:
        raise not_found("journey", journey_id)
    schedule = await _sync_schedule(request, engine, settings, journey, "reinstated")
    return JourneyState(
        journey_id=journey_id,
        state="active",
        changed=changed,
        schedule=schedule,
        note=f"version {journey.version} starts new runs from the next event on",
    )
