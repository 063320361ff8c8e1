"""Routing to cohort journeys (`mode: cohort`): an event starts one CohortWorkflow per journey and
key, and reaches the running run of its key as a signal.

The run id is `cohort:{journey id}:{key}`, the key being `cohort.key` evaluated on the event; for
outage.* events the key is mapped to its canonical incident (gridjourney/incidents/queries.py), so
two reports of one transformer make one run. The same event twice, or the same incident twice,
starts nothing new: Temporal refuses a second run under the id (REJECT_DUPLICATE keeps a finished
run's id taken), and a run `cohort_runs` shows finished is not started again once Temporal has
forgotten it. A triggering event that finds its key's run running is signalled to it: the customers
it names who are not members yet join (a second outage report merged into the incident); the run
ignores an event it has seen, so a redelivered trigger adds nobody.

A run is shared by its members and outlives their erasure (privacy/workflow_erasure.py deletes a
customer's own executions only), so what reaches it, a start's trigger or a signal (a member's reply,
a `customer.updated`), goes without its personal fields (privacy/fields.py); the compiler refuses a
cohort journey that reads one (dsl/cohort_checks.py). The key and a trigger's `when` are decided here
on the whole event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.cohorts import queries as cohort_queries
from gridjourney.dsl.expressions import ExpressionError, evaluate
from gridjourney.dsl.schema import CompiledJourney, WaitForStep
from gridjourney.incidents.queries import canonical_incident_id
from gridjourney.privacy.fields import without_personal_fields
from gridjourney.router.matching import holds
from gridjourney.temporal import JOURNEY_ID, JOURNEY_VERSION
from gridjourney.workflows.cohort import CohortWorkflow
from gridjourney.workflows.cohort_contracts import CohortInput
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, EventRef

# A key longer than this is replaced by a digest of it, so that the run id (String(300)), the
# cohort_key column (String(200)) and the ledger keys `{run}:{step}:{visit}:{customer}` built on the
# run id (String(300)) hold whatever an event names.
MAX_KEY_LENGTH = 100


def bounded_key(key: str) -> str:
    """`key`, or `sha256:` and the first 32 hex digits of its digest when it is too long: stable, so
    every event of the long key reaches the same run."""
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def cohort_run_id(journey_id: str, key: str) -> str:
    return f"cohort:{journey_id}:{key}"


def cohort_journeys(journeys: Iterable[CompiledJourney]) -> list[CompiledJourney]:
    return [journey for journey in journeys if journey.definition.mode == "cohort"]


def triggered_cohorts(event: EventRef, journeys: Iterable[CompiledJourney]) -> list[CompiledJourney]:
    """Cohort journeys whose trigger matches: the type is listed and its `when` holds on the event."""
    matched = []
    for journey in cohort_journeys(journeys):
        namespace = {"event": event.namespace(), "customer": {}, "journey": {"id": journey.journey_id}}
        if any(
            trigger.event == event.type and (trigger.when is None or holds(trigger.when, namespace))
            for trigger in journey.definition.trigger
        ):
            matched.append(journey)
    return matched


def cohort_listened_types(journey: CompiledJourney) -> set[str]:
    """What a running cohort run reacts to: updates, on_update notices, exit_on and wait_for types."""
    spec = journey.definition.cohort
    if spec is None:
        return set()
    types = {*spec.updates, *(notice.event for notice in spec.on_update)}
    types.update(journey.definition.exit_event_types)
    types.update(step.wait_for.event for step in journey.definition.steps if isinstance(step, WaitForStep))
    return types


def shared_copy(event: EventRef) -> EventRef:
    """The event as a cohort run may keep it: without its personal fields."""
    payload = without_personal_fields(event.type, event.payload)
    return event if len(payload) == len(event.payload) else event.model_copy(update={"payload": payload})


def event_key(journey: CompiledJourney, event: EventRef) -> str | None:
    """`cohort.key` on the event (None: the event does not give one)."""
    assert journey.definition.cohort is not None
    try:
        value = evaluate(journey.definition.cohort.key, {"event": event.namespace()})
    except ExpressionError:
        return None
    return None if value is None or value == "" else str(value)


@dataclass
class CohortRouting:
    engine: AsyncEngine
    client: Client
    task_queue: str
    send_task_queue: str
    batch_size: int = 500
    concurrency: int = 8
    started: int = 0
    signalled: int = 0

    async def route(self, event: EventRef, journeys: list[CompiledJourney]) -> None:
        triggered = triggered_cohorts(event, journeys)
        for journey in triggered:
            key = await self._key(journey, event)
            if key is None:
                continue
            started = await self._start(journey, key, event)
            if started:
                self.started += 1
            elif started is False:  # running (a closed run Temporal still knows: the signal finds none)
                await self._signal(cohort_run_id(journey.journey_id, key), event)
        for journey in cohort_journeys(journeys):
            if journey in triggered or event.type not in cohort_listened_types(journey):
                continue
            key = await self._key(journey, event)
            if key is not None:
                await self._signal(cohort_run_id(journey.journey_id, key), event)

    async def _key(self, journey: CompiledJourney, event: EventRef) -> str | None:
        key = event_key(journey, event)
        if key is None or not event.type.startswith("outage."):
            return None if key is None else bounded_key(key)
        async with self.engine.connect() as conn:
            canonical = await canonical_incident_id(conn, key)
        return bounded_key(canonical or key)

    async def _start(self, journey: CompiledJourney, key: str, event: EventRef) -> bool | None:
        """True: started; False: a run of the key exists; None: the run has finished."""
        run_id = cohort_run_id(journey.journey_id, key)
        async with self.engine.connect() as conn:
            if await cohort_queries.run_finished(conn, run_id):
                return None
        try:
            await self.client.start_workflow(
                CohortWorkflow.run,
                CohortInput(
                    journey=journey,
                    cohort_key=key,
                    trigger=shared_copy(event),
                    send_task_queue=self.send_task_queue,
                    batch_size=self.batch_size,
                    concurrency=self.concurrency,
                ),
                id=run_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(JOURNEY_ID, journey.journey_id),
                        SearchAttributePair(JOURNEY_VERSION, journey.version),
                    ]
                ),
            )
        except WorkflowAlreadyStartedError:
            return False
        return True

    async def _signal(self, run_id: str, event: EventRef) -> None:
        try:
            await self.client.get_workflow_handle(run_id).signal(JOURNEY_EVENT_SIGNAL, shared_copy(event))
            self.signalled += 1
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            # no run of that key (or it has finished): nothing to tell
