"""JourneyActivities: the activities a worker registers (see the package's docstring for how), and
the clock a send is judged at. Its own module, so that importing one activity module (the ledger, for
`gridjourney sends`) does not import them all."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from gridjourney.activities.context import context_of, load_context, load_customer
from gridjourney.activities.customers import update_customer
from gridjourney.activities.journey_events import record_journey_event, record_journey_events
from gridjourney.activities.rate_limit import buckets_from_settings
from gridjourney.activities.send import MessageSending
from gridjourney.activities.send_batch import BatchProgress, CohortSending
from gridjourney.activities.send_carry import JourneyCarry, carrying
from gridjourney.channels.base import Sender
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.config import Settings, public_base_url
from gridjourney.dsl.schema import Channel
from gridjourney.events.store import EventIdConflict, EventStore
from gridjourney.events.types import UnknownEventType
from gridjourney.policy.loader import policy_from_settings
from gridjourney.policy.model import Policy
from gridjourney.privacy.customer_keys import CustomerErased
from gridjourney.workflows.cohort_contracts import SEND_COHORT_BATCH, BatchOutcome, CohortSendInput
from gridjourney.workflows.contracts import (
    LOAD_CONTEXT,
    RECORD_JOURNEY_EVENT,
    RECORD_JOURNEY_EVENTS,
    RECORD_SEND_GIVEN_UP,
    SCORE_CUSTOMER,
    SEND_MESSAGE,
    UPDATE_CUSTOMER,
    CustomerContext,
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


class JourneyActivities:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        senders: Mapping[Channel, Sender],
        *,
        policy: Policy | None = None,
        models_dir: Path | None = None,
    ) -> None:
        """`models_dir`: the saved models `score` steps use; default <home>/models, where
        `gridjourney models train` saves them. `policy`: default the settings' policy file."""
        self.engine = engine
        self.store = EventStore(engine)
        # Here, not at the top: scoring brings scikit-learn, which the CLI's commands that only read
        # the ledger (cli/sends.py) should not pay for at every start.
        from gridjourney.activities.scores import Scoring

        self.scoring = Scoring(engine, models_dir or settings.home / "models")
        self.sending = MessageSending(
            self.store,
            settings.templates_dir,
            senders,
            policy or policy_from_settings(settings),
            claim_lease=settings.send_claim_lease,
            look_up_after=settings.send_look_up_after,
            status_callback_base=public_base_url(settings),
            clock=decision_time,
        )
        # Cohort batches: the same send, in bulk; provider rates shared by every worker.
        calls = ProviderCalls(
            senders,
            throttles=buckets_from_settings(engine, settings),
            concurrency={"sms": settings.sms_concurrency, "push": settings.sms_concurrency},
        )
        self.cohort_sending = CohortSending(self.sending, calls)

    @activity.defn(name=LOAD_CONTEXT)
    async def load_context(self, request: LoadContextInput) -> CustomerContext:
        await self._record_carried(request.journey_events)
        return await load_context(self.engine, request, self.sending.policy.default_time_zone)

    @activity.defn(name=RECORD_JOURNEY_EVENT)
    async def record_journey_event(self, request: RecordJourneyEventInput) -> None:
        try:
            await record_journey_event(self.store, request)
        except (UnknownEventType, ValidationError) as error:
            # A payload the schema refuses is refused on every retry: fail the activity for good.
            raise ApplicationError(str(error), type="InvalidEvent", non_retryable=True) from error
        except CustomerErased as error:
            raise _erased(error) from error

    @activity.defn(name=RECORD_JOURNEY_EVENTS)
    async def record_journey_events(self, request: RecordJourneyEventsInput) -> None:
        await self._record_carried(request.events)

    async def _record_carried(self, events: list[RecordJourneyEventInput]) -> None:
        """The run's journey events an activity carries, appended before its own work (idempotent)."""
        if not events:
            return
        try:
            await record_journey_events(self.store, events)
        except (UnknownEventType, ValidationError) as error:
            raise ApplicationError(str(error), type="InvalidEvent", non_retryable=True) from error
        except CustomerErased as error:
            raise _erased(error) from error

    @activity.defn(name=UPDATE_CUSTOMER)
    async def update_customer(self, request: UpdateCustomerInput) -> None:
        await self._record_carried(request.journey_events)
        try:
            await update_customer(self.store, request)
        except ValidationError as error:
            raise ApplicationError(str(error), type="InvalidEvent", non_retryable=True) from error
        except CustomerErased as error:
            raise _erased(error) from error
        await self._record_carried(request.recorded_after)

    @activity.defn(name=SCORE_CUSTOMER)
    async def score_customer(self, request: ScoreCustomerInput) -> ScoreOutcome:
        # No model, too little data: a `skipped` outcome. Database errors propagate and are retried.
        await self._record_carried(request.journey_events)
        try:
            return await self.scoring.score(request)
        except ValidationError as error:
            raise ApplicationError(str(error), type="InvalidEvent", non_retryable=True) from error

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, request: SendMessageInput) -> SendOutcome:
        # Transient provider errors, SendInProgress, SendHeld and ClaimLost propagate: Temporal's retry
        # policy retries them. Heartbeats (which renew the ledger lease) only inside an activity.
        heartbeat = activity.heartbeat if activity.in_activity() else None
        # The run's journey events ride on the outcome's own append (activities/send_carry.py).
        carry = JourneyCarry(before=request.journey_events, after=request.recorded_after)
        context = None
        if request.with_context is not None:  # the run's entry: it learns here whether the customer exists
            await self._record_carried(request.with_context.journey_events)
            carry.customer = await load_customer(self.engine, request.customer_id)
            policy_zone = self.sending.policy.default_time_zone
            context = await context_of(self.engine, carry.customer, request.with_context, policy_zone)
            if not context.exists:
                await self._record_carried(request.journey_events)
                return SendOutcome(status="suppressed", reason="unknown_customer", context=context)
        try:
            with carrying(carry):
                outcome = await self.sending.send(request, heartbeat)
        except CustomerErased as error:
            raise _erased(error) from error
        except Exception:
            # As before the carry: the run's entry is in the log even when its first send fails.
            if not carry.before_appended:
                with contextlib.suppress(Exception):
                    await self._record_carried(request.journey_events)
            raise
        if not carry.before_appended:  # a duplicate answered from the ledger: appended already (no-op)
            await self._record_carried(request.journey_events)
        if request.recorded_after and outcome.status != "deferred":
            if not carry.after_appended:
                await self._record_after(with_step_outcome(request.recorded_after, outcome.step_outcome))
            outcome = outcome.model_copy(update={"recorded_after": True})
        return outcome if context is None else outcome.model_copy(update={"context": context})

    async def _record_after(self, events: list[RecordJourneyEventInput]) -> None:
        """The last step's completion and the exit, after the send. An earlier attempt that appended
        them may have had another outcome text (a retry reads the recorded outcome back): its stand."""
        try:
            await self._record_carried(events)
        except EventIdConflict:
            return

    @activity.defn(name=SEND_COHORT_BATCH)
    async def send_cohort_batch(self, request: CohortSendInput) -> BatchOutcome:
        # A retried batch carries on from its last heartbeat (plain dicts: validated again). Transient
        # provider errors (BatchIncomplete) propagate and Temporal retries what is left.
        heartbeat = None
        resumed = None
        if activity.in_activity():
            details = activity.info().heartbeat_details
            resumed = BatchProgress.model_validate(details[0]) if details else None

            def heartbeat(progress: BatchProgress) -> None:
                activity.heartbeat(progress.model_dump(mode="json"))

        try:
            return await self.cohort_sending.send_batch(request, heartbeat, resumed)
        except CustomerErased as error:
            raise _erased(error) from error

    @activity.defn(name=RECORD_SEND_GIVEN_UP)
    async def record_send_given_up(self, request: SendGivenUpInput) -> None:
        try:
            await self.sending.give_up(request.request, request.reason)
        except CustomerErased as error:
            raise _erased(error) from error

    @property
    def journey_activities(self) -> list[Callable[..., Any]]:
        return [
            self.load_context,
            self.record_journey_event,
            self.record_journey_events,
            self.update_customer,
            self.score_customer,
            self.record_send_given_up,
        ]

    @property
    def send_activities(self) -> list[Callable[..., Any]]:
        """For the dedicated send task queue, whose rate limit throttles provider calls."""
        return [self.send_message, self.send_cohort_batch]

    @property
    def all(self) -> list[Callable[..., Any]]:
        return [*self.journey_activities, *self.send_activities]


def decision_time() -> datetime:
    """The time a send is judged at (quiet hours): the wall clock, or the Temporal server's when it is
    ahead. A time-skipping server (tests, the demo's night) fires a timer at its own time; a message
    deferred to 09:00 must be judged at 09:00 then, not at the wall clock's 22:00."""
    now = datetime.now(UTC)
    if activity.in_activity():
        return max(now, activity.info().current_attempt_scheduled_time)
    return now


def _erased(error: CustomerErased) -> ApplicationError:
    """Nothing more may be recorded about an erased customer, on this attempt or any later one: the
    journey fails for good instead of retrying without end."""
    return ApplicationError(
        f"customer {error.customer_id} was erased", type="CustomerErased", non_retryable=True
    )
