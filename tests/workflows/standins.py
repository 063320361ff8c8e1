"""In-memory stand-ins for the journey activities, registered under the real activity names.

They isolate the interpreter: the real activities need Postgres and the SMS stand-in and are covered
by the integration tests. Like the real ones, they are idempotent on the ids the workflow sends
(event ids, idempotency keys), so a retried or replayed call is visible as "not recorded twice".
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from gridjourney.dsl.compiler import compile_journey, definition_hash
from gridjourney.dsl.loader import load_journey_text
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.workflows.contracts import (
    LOAD_CONTEXT,
    RECORD_JOURNEY_EVENT,
    RECORD_JOURNEY_EVENTS,
    RECORD_SEND_GIVEN_UP,
    SCORE_CUSTOMER,
    SEND_MESSAGE,
    UPDATE_CUSTOMER,
    CustomerContext,
    EventRef,
    LoadContextInput,
    RecordJourneyEventInput,
    RecordJourneyEventsInput,
    ScoreCustomerInput,
    ScoreOutcome,
    SendGivenUpInput,
    SendMessageInput,
    SendOutcome,
    UpdateCustomerInput,
    with_step_outcome,
)
from gridjourney.workflows.journey import JourneyWorkflow

TASK_QUEUE = "journeys-test"
SEND_TASK_QUEUE = "sends-test"


@dataclass
class StandIns:
    customers: dict[str, CustomerContext] = field(default_factory=dict)
    records: list[RecordJourneyEventInput] = field(default_factory=list)
    sends: list[SendMessageInput] = field(default_factory=list)
    updates: list[UpdateCustomerInput] = field(default_factory=list)
    context_loads: int = 0
    context_requests: list[LoadContextInput] = field(default_factory=list)
    # score_customer: the value each (customer, score) gets; absent means "no trained model"
    model_scores: dict[tuple[str, str], float] = field(default_factory=dict)
    score_requests: list[ScoreCustomerInput] = field(default_factory=list)
    # False: a new score does not reach load_context (a customers projection that lags behind)
    project_scores: bool = True
    # send_message, as the policy would decide: every call (deferred ones too) is in `send_requests`
    send_requests: list[SendMessageInput] = field(default_factory=list)
    quiet_until: datetime | None = None  # a send asked before this is deferred until it
    defer_to: datetime | None = None  # the moment a deferral names, when not quiet_until
    revoked: set[str] = field(default_factory=set)  # customers whose consent is revoked: suppressed
    send_error: str | None = None  # every send fails for good with this (the retry policy gives up)
    given_up: list[SendGivenUpInput] = field(default_factory=list)

    @activity.defn(name=LOAD_CONTEXT)
    async def load_context(self, request: LoadContextInput) -> CustomerContext:
        self._record(request.journey_events)
        self.context_loads += 1
        self.context_requests.append(request)
        return self.customers.get(request.customer_id) or CustomerContext(customer_id=request.customer_id)

    @activity.defn(name=RECORD_JOURNEY_EVENT)
    async def record_journey_event(self, request: RecordJourneyEventInput) -> None:
        self._record([request])

    @activity.defn(name=RECORD_JOURNEY_EVENTS)
    async def record_journey_events(self, request: RecordJourneyEventsInput) -> None:
        self._record(request.events)

    def _record(self, events: list[RecordJourneyEventInput]) -> None:
        """Journey events, alone or carried by another activity's input: each once."""
        for event in events:
            if all(record.event_id != event.event_id for record in self.records):
                self.records.append(event)

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, request: SendMessageInput) -> SendOutcome:
        """As activities/journey_activities.py's: the entry's context first when asked, the last step's
        completion and the exit after a final outcome."""
        self._record(request.journey_events)
        context = None
        if request.with_context is not None:
            context = await self.load_context(request.with_context)
            if not context.exists:
                return SendOutcome(status="suppressed", reason="unknown_customer", context=context)
        outcome = await self._send(request)
        if request.recorded_after and outcome.status != "deferred":
            self._record(with_step_outcome(request.recorded_after, outcome.step_outcome))
            outcome = outcome.model_copy(update={"recorded_after": True})
        return outcome if context is None else outcome.model_copy(update={"context": context})

    async def _send(self, request: SendMessageInput) -> SendOutcome:
        self.send_requests.append(request)
        if self.send_error is not None:
            raise ApplicationError(self.send_error, non_retryable=True)
        # the server's clock (time-skipping), not this process's
        asked_at = activity.info().current_attempt_scheduled_time
        if self.quiet_until is not None and asked_at < self.quiet_until and request.can_defer:
            until = self.defer_to or self.quiet_until
            return SendOutcome(status="deferred", deferred_until=until, reason="sms: quiet_hours")
        if request.customer_id in self.revoked:
            return SendOutcome(status="suppressed", reason="sms: consent_revoked")
        if any(sent.idempotency_key == request.idempotency_key for sent in self.sends):
            return SendOutcome(status="sent", channel=request.channels[0], duplicate=True)
        self.sends.append(request)
        return SendOutcome(
            status="sent", channel=request.channels[0], provider_message_id=f"SM{len(self.sends)}"
        )

    @activity.defn(name=RECORD_SEND_GIVEN_UP)
    async def record_send_given_up(self, request: SendGivenUpInput) -> None:
        if all(done.request.idempotency_key != request.request.idempotency_key for done in self.given_up):
            self.given_up.append(request)

    @activity.defn(name=UPDATE_CUSTOMER)
    async def update_customer(self, request: UpdateCustomerInput) -> None:
        self._record(request.journey_events)
        self.updates.append(request)
        context = self.customers.setdefault(
            request.customer_id, CustomerContext(customer_id=request.customer_id)
        )
        context.attributes[request.attribute] = request.value
        self._record(request.recorded_after)

    @activity.defn(name=SCORE_CUSTOMER)
    async def score_customer(self, request: ScoreCustomerInput) -> ScoreOutcome:
        self._record(request.journey_events)
        self.score_requests.append(request)
        value = self.model_scores.get((request.customer_id, request.score))
        if value is None:
            return ScoreOutcome(
                status="skipped", score=request.score, reason=f"no trained {request.model} model"
            )
        if self.project_scores:
            context = self.customers.setdefault(
                request.customer_id, CustomerContext(customer_id=request.customer_id)
            )
            context.attributes.setdefault("scores", {})[request.score] = value
            context.attributes.setdefault("scores_updated_at", {})[request.score] = (
                request.occurred_at.isoformat()
            )
        return ScoreOutcome(
            status="scored", score=request.score, value=value, updated_at=request.occurred_at, model_version=1
        )

    # --- what the tests read ------------------------------------------------------------------
    def of_type(self, event_type: str) -> list[RecordJourneyEventInput]:
        return [record for record in self.records if record.type == event_type]

    def steps(self) -> list[tuple[str, str | None]]:
        return [(r.payload["step_id"], r.payload["outcome"]) for r in self.of_type("journey.step_completed")]

    def step_time(self, step_id: str) -> datetime:
        [record] = [r for r in self.of_type("journey.step_completed") if r.payload["step_id"] == step_id]
        return record.occurred_at

    def sent_templates(self) -> list[str]:
        return [send.template for send in self.sends]


def compiled(yaml_text: str, version: int = 1) -> CompiledJourney:
    definition = load_journey_text(yaml_text, "<test>")
    return compile_journey(
        definition, version=version, content_hash=definition_hash(definition), templates_dir=None
    )


def event(event_type: str, customer_id: str, occurred_at: datetime | None = None, **payload: Any) -> EventRef:
    return EventRef(
        event_id=str(uuid.uuid4()),
        type=event_type,
        customer_id=customer_id,
        occurred_at=occurred_at or datetime.now(UTC),
        payload=payload,
        position=0,
    )


@asynccontextmanager
async def running_workers(client: Client, standins: StandIns) -> AsyncIterator[None]:
    """A journey worker and a send worker (separate queue, as in production)."""
    journey_activities: Sequence[Callable[..., Any]] = [
        standins.load_context,
        standins.record_journey_event,
        standins.record_journey_events,
        standins.update_customer,
        standins.score_customer,
        standins.record_send_given_up,
    ]
    async with (
        Worker(client, task_queue=TASK_QUEUE, workflows=[JourneyWorkflow], activities=journey_activities),
        Worker(client, task_queue=SEND_TASK_QUEUE, activities=[standins.send_message]),
    ):
        yield
