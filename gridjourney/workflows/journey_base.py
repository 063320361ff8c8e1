"""JourneyWorkflow's state and its calls (workflows/journey.py): the customer context and the
namespaces conditions read, the run's journey events and their ids, and the bookkeeping activities
that record them. Deterministic, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    # import modules by name: `from package import module` would bypass the sandbox's pass-through
    from gridjourney.dsl.functions import Facts
    from gridjourney.dsl.schema import WaitForStep
    from gridjourney.workflows.contracts import (
        LOAD_CONTEXT,
        RECORD_JOURNEY_EVENT,
        RECORD_JOURNEY_EVENTS,
        CustomerContext,
        EventRef,
        JourneyInput,
        JourneyState,
        RecordJourneyEventInput,
        RecordJourneyEventsInput,
        ScoreOutcome,
    )
    from gridjourney.workflows.decisions import (
        context_request,
        event_namespace,
        instance_key,
        recorded_event_id,
        step_namespace,
        wanted_facts,
        with_scores,
    )
    from gridjourney.workflows.journey_patches import EVENTS_IN_STEP_PATCH

_BOOKKEEPING_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))  # until the database is back

JourneyEventType = Literal["journey.entered", "journey.step_completed", "journey.exited", "journey.converted"]


class Exited(Exception):
    """The run ends early, with `reason` as journey.exited's reason (an exit event's type, or
    "unknown_customer")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JourneyBase:
    """The run's state and the calls every part of the run makes."""

    def __init__(self, input: JourneyInput) -> None:
        self._input = input
        self._journey = input.journey
        self._state = input.resume.model_copy(deep=True) if input.resume else JourneyState()
        self._inbox: list[EventRef] = list(input.pending_events)
        # Events a later wait_for may want, kept from the moment they arrive: an outage restored while
        # the notice was being sent still ends the wait for restoration.
        self._held: list[EventRef] = []
        self._awaited_types = {
            step.wait_for.event for step in input.journey.definition.steps if isinstance(step, WaitForStep)
        }
        self._seen: list[str] = list(input.seen_event_ids) or [input.trigger.event_id]
        self._seen_set = set(self._seen)
        self._customer: dict[str, Any] | None = None
        self._unrecorded: list[RecordJourneyEventInput] = []  # the next activity appends them first
        self._context: CustomerContext | None = None  # the last loaded, for the date and history functions
        self._wanted = wanted_facts(input.journey.definition)  # what its had() and in_journey() read
        self._scores: dict[str, ScoreOutcome] = {}  # refreshed by score steps, laid over loaded contexts
        self._current = False  # every patch's path: STEPS_CARRY_PATCH, asked first thing in run()
        self._entry_context_on_send = False  # the first send loads the context (STEPS_CARRY_PATCH)
        self._end_recorded = False  # the last step's activity appended its completion and the exit
        # A run continued mid-wait keeps the deadline it had.
        resume = input.resume
        self._resumed_wait = (
            (resume.current_step, resume.waiting_until)
            if resume and resume.current_step and resume.waiting_until
            else None
        )

    # --- context and records ----------------------------------------------------------------------
    @property
    def _customer_id(self) -> str:
        return self._input.customer_id

    @property
    def _instance(self) -> str:
        return instance_key(workflow.info().workflow_id, self._input.trigger)

    async def _load_context(self) -> CustomerContext:
        request = context_request(self._wanted, self._customer_id, self._input.trigger, workflow.now())
        if self._events_in_step():
            request = request.model_copy(update={"journey_events": list(self._unrecorded)})
        context: CustomerContext = await self._bookkeeping(LOAD_CONTEXT, request, result_type=CustomerContext)
        self._appended(request.journey_events)
        self._took_context(context)
        return context

    def _took_context(self, context: CustomerContext) -> None:
        """A context loaded (by LOAD_CONTEXT, or by the first send). The entry's, when the first send
        loaded it, decides whether the customer exists."""
        self._context = context
        self._customer = context.namespace()
        if self._scores:
            self._customer.update(with_scores(self._customer, self._scores.values()))
        if self._entry_context_on_send:
            self._entry_context_on_send = False
            if not context.exists:
                raise Exited("unknown_customer")

    def _end_events(self, step_id: str, kind: str, outcome: str | None) -> list[RecordJourneyEventInput]:
        """The last step's journey.step_completed and the journey.exited, for its activity to append
        after its work (STEPS_CARRY_PATCH); none when a goal is left to observe after the steps. A
        send's outcome is None here: the activity fills it in."""
        goal_left = self._journey.definition.goal is not None and not self._state.converted
        if goal_left or not self._current:
            return []
        return [
            self._journey_event(
                "journey.step_completed", step_id=step_id, kind=kind, outcome=outcome, next_step=None
            ),
            self._journey_event("journey.exited", reason="completed"),
        ]

    async def _step_namespace(self) -> dict[str, Any]:
        if self._customer is None:
            await self._load_context()
        assert self._customer is not None
        return step_namespace(self._journey, self._input.trigger, self._customer, self._facts())

    def _event_namespace(self, event: EventRef) -> dict[str, Any]:
        # synchronous (called from a wait's matcher): the last loaded context serves
        return event_namespace(self._journey, self._input.trigger, self._customer or {}, event, self._facts())

    def _facts(self) -> Facts | None:
        """What now(), local_date(), had() and in_journey() read: the last loaded context, now."""
        return None if self._context is None else self._context.facts(workflow.now())

    def _next_event_id(self) -> str:
        self._state.journey_event_seq += 1
        return recorded_event_id(self._instance, self._state.journey_event_seq)

    def _journey_event(
        self, event_type: JourneyEventType, occurred_at: datetime | None = None, **fields: Any
    ) -> RecordJourneyEventInput:
        """The next journey event of the run (it takes the next id)."""
        payload = {
            "journey_id": self._journey.journey_id,
            "version": self._journey.version,
            "instance_id": workflow.info().workflow_id,
            **fields,
        }
        return RecordJourneyEventInput(
            event_id=self._next_event_id(),
            type=event_type,
            customer_id=self._customer_id,
            occurred_at=occurred_at or workflow.now(),
            payload=payload,
        )

    async def _record(
        self, event_type: JourneyEventType, occurred_at: datetime | None = None, **fields: Any
    ) -> None:
        request = self._journey_event(event_type, occurred_at, **fields)
        if self._events_in_step():
            self._unrecorded.append(request)
        else:
            await self._bookkeeping(RECORD_JOURNEY_EVENT, request)

    def _events_in_step(self) -> bool:
        # the SDK keeps the first answer for the run
        return self._current or workflow.patched(EVENTS_IN_STEP_PATCH)

    def _appended(self, carried: list[RecordJourneyEventInput]) -> None:
        """The activity that carried them succeeded: they are in the log. (One activity runs at a time,
        so they are still the oldest unrecorded; a failed activity's are carried again.)"""
        del self._unrecorded[: len(carried)]

    async def _record_unrecorded(self) -> None:
        if not self._unrecorded:
            return
        carried = list(self._unrecorded)
        await self._bookkeeping(RECORD_JOURNEY_EVENTS, RecordJourneyEventsInput(events=carried))
        self._appended(carried)

    async def _bookkeeping(self, activity: str, arg: Any, result_type: type | None = None) -> Any:
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_BOOKKEEPING_RETRY,
        )
