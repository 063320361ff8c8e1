"""JourneyWorkflow: one customer's run through a compiled journey, interpreted step by step.

One state machine, kept in one module so it reads in one place; its pure decisions (branches,
splits, deadlines, matching, ids) are in decisions.py and tested on their own.

Decisions worth knowing (the module is the reference for them):
- Everything the run does is recorded through RECORD_JOURNEY_EVENT with ids derived from the
  workflow id, the trigger event id and a counter kept in state. The trigger id is part of it because
  `after_exit` re-entry reuses the workflow id: the next instance must not collide with the last one.
  The run id is never used: it changes on continue-as-new.
- Signalled events are queued and handled at the run's own pace, in arrival order: an `exit_on`
  event (whose condition, if it has one, holds) stops the run at once (even mid-wait; a step
  already running finishes first), a goal event converts it, a `wait_for` step takes the first
  event it accepts. Events of a type some `wait_for` of the journey awaits are kept until one takes
  them (power restored while the outage notice was still being sent ends the wait for restoration
  at once); other events are dropped.
- Conversion does not end the journey: the remaining steps still run (a holdout comparison needs
  both groups to see the same steps). When the steps are done and the goal window is still open,
  the run stays active to observe the goal, then finishes ("converted" or "completed").
- A split arm's `vars`, and the event that ended the last `wait_for`, are kept in the state (across
  continue-as-new) and passed to every later send as the template variables `vars` and
  `waited_event`; runs without them send exactly the variables they did.
- Finishing records `journey.exited` with reason "completed"; an exit event records its type as the
  reason; cancellation records "cancelled" and ends the run as cancelled.
- The customer context is loaded at entry and again (lazily) after every wait: a wait of days may
  see a changed time zone or score. At entry it rides on the first step's send when that step is a
  send (not held out) and nothing else is queued yet (patch `journey-context-and-exit-in-steps-1`):
  nothing reads it before then. The send activity loads it first; an unknown customer sends nothing
  and exits "unknown_customer", as the entry load would have.
- Under the same patch the last step's send or update, when no goal is left to observe, appends the
  step's journey.step_completed and the journey.exited itself after a final outcome: a plain journey
  runs one activity per step and nothing else. Their ids are taken before the send; when the send fails
  for good the run records both under new ids. (A run cancelled while that send completes may thus
  log both its completion and its cancellation.)
- Quiet hours (patch `quiet-hours-1`): a send step passes its own `sending_hours` and may be
  deferred; it then waits on a timer until the moment the activity named (exit events still end the
  run meanwhile) and asks again with the same idempotency key, so eligibility is judged anew. A send
  the retry policy gives up on is recorded through RECORD_SEND_GIVEN_UP, then the journey goes on.
- A `score` step refreshes one score through SCORE_CUSTOMER and drops the loaded context; the next
  load shows the new score even when the customers projection has not applied it yet (the outcome is
  laid over an older `scores.<name>`). No model or too little data is outcome `skipped:<reason>`;
  a score that cannot be computed after a few attempts is `failed:<error>`; either way the journey
  goes on, and a branch on the score takes its otherwise case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    # import modules by name: `from package import module` would bypass the sandbox's pass-through
    from gridjourney.dsl.expressions import evaluate
    from gridjourney.dsl.functions import Facts
    from gridjourney.dsl.schema import (
        AnyStep,
        BranchStep,
        ScoreStep,
        SendStep,
        SplitStep,
        UpdateStep,
        WaitForStep,
        WaitStep,
    )
    from gridjourney.temporal import CUSTOMER_ID, JOURNEY_ID, JOURNEY_VERSION
    from gridjourney.workflows.assignment import in_holdout
    from gridjourney.workflows.contracts import (
        JOURNEY_EVENT_SIGNAL,
        JOURNEY_STATE_QUERY,
        LOAD_CONTEXT,
        RECORD_JOURNEY_EVENT,
        RECORD_JOURNEY_EVENTS,
        RECORD_SEND_GIVEN_UP,
        SCORE_CUSTOMER,
        SEND_MESSAGE,
        UPDATE_CUSTOMER,
        CustomerContext,
        EventRef,
        JourneyInput,
        JourneyState,
        RecordJourneyEventInput,
        RecordJourneyEventsInput,
        ScoreCustomerInput,
        ScoreOutcome,
        SendGivenUpInput,
        SendMessageInput,
        SendOutcome,
        StepRecord,
        UpdateCustomerInput,
    )
    from gridjourney.workflows.decisions import (
        KINDS,
        accepts,
        choose_branch,
        choose_split,
        context_request,
        event_namespace,
        exits,
        idempotency_key,
        in_goal_window,
        instance_key,
        journey_namespace,
        recorded_event_id,
        step_namespace,
        target,
        wait_deadline,
        wanted_facts,
        with_scores,
    )

SEEN_EVENTS_KEPT = 1000  # duplicates arrive close together; older ids are forgotten
STEPS_KEPT = 200  # steps_taken in state (the full record is in the event log)
HELD_EVENTS_KEPT = 100  # events kept for a later wait_for

_BOOKKEEPING_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))  # until the database is back
_SEND_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
_SEND_GIVE_UP = timedelta(hours=12)  # a message later than this is worse than none: record it failed
# The send activity heartbeats while it holds a ledger claim (activities/send.py renews the claim's
# lease on each); a worker that died is noticed within this, not after the 2-minute timeout.
_SEND_HEARTBEAT = timedelta(seconds=30)
_PAST_DEFERRAL = timedelta(minutes=1)
# Quiet hours: send steps pass the step's sending hours, wait out a deferral on a timer and record a
# send given up. Runs started before it keep sending as they did (tests/replay/ proves both).
QUIET_HOURS_PATCH = "quiet-hours-1"
# Journey events ride on the activity the run calls next anyway, which appends them before its own
# work (their ids make a retry append nothing twice), or go together through one RECORD_JOURNEY_EVENTS
# before the run waits, continues as new or ends. Runs started before it record one activity per
# event (tests/replay/ proves both). No local activities: one that writes runs before its workflow
# task completes, so a task retried at a later workflow.now() would reuse an id with other content;
# and a patch first asked after a local activity that outlasted its task did not replay.
EVENTS_IN_STEP_PATCH = "journey-events-in-step-1"
# The entry's context load and the end's records ride on the first and last sends (see the docstring).
# Runs started before it load at entry and record the end in RECORD_JOURNEY_EVENTS (tests/replay/).
# Asked once, first thing, it stands for the two patches above as well: each patch a run asks adds a
# marker and a TemporalChangeVersion upsert to its history (the SDK's core does that), which cost the
# server about as much as the journey's own bookkeeping. Runs without it ask the older ones as before.
STEPS_CARRY_PATCH = "journey-context-and-exit-in-steps-1"
# Permanent reasons are a `skipped` outcome, not an error; a few tries cover a database hiccup.
_SCORE_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=1), maximum_attempts=5, non_retryable_error_types=["InvalidEvent"]
)

JourneyEventType = Literal["journey.entered", "journey.step_completed", "journey.exited", "journey.converted"]


class _Exited(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@workflow.defn(name="JourneyWorkflow")
class JourneyWorkflow:
    @workflow.init
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

    # --- handlers ---------------------------------------------------------------------------------
    @workflow.signal(name=JOURNEY_EVENT_SIGNAL)
    def on_event(self, event: EventRef) -> None:
        if event.event_id in self._seen_set or self._state.status != "active":
            return
        self._seen.append(event.event_id)
        self._seen_set.add(event.event_id)
        if len(self._seen) > SEEN_EVENTS_KEPT:
            self._seen_set.discard(self._seen.pop(0))
        self._inbox.append(event)

    @workflow.query(name=JOURNEY_STATE_QUERY)
    def state(self) -> JourneyState:
        return self._state

    # --- the run ----------------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyState:
        self._current = workflow.patched(STEPS_CARRY_PATCH)  # before any other patch is asked
        try:
            if input.resume is None:
                await self._enter()
            self._upsert_search_attributes()
            await self._run_steps()
            await self._observe_goal()
            await self._finish("completed")
        except _Exited as exited:
            await self._finish(exited.reason)
        except (asyncio.CancelledError, ActivityError) as error:
            # Cancelled by the API (a pending activity reports it as its cause): the record says so,
            # then Temporal marks the run cancelled.
            if not is_cancelled_exception(error):
                raise
            await self._finish("cancelled")
            raise asyncio.CancelledError("journey cancelled") from error
        return self._state

    async def _enter(self) -> None:
        self._state.entered_at = workflow.now()
        self._state.current_step = self._journey.first_step
        entry = self._journey.definition.entry
        holdout = in_holdout(self._journey.journey_id, self._customer_id, entry.holdout)
        self._entry_context_on_send = self._first_send_loads_context(holdout)
        context = None if self._entry_context_on_send else await self._load_context()
        self._state.holdout = holdout
        await self._record(
            "journey.entered",
            occurred_at=self._state.entered_at,  # the moment the goal window counts from
            holdout=self._state.holdout,
            trigger_event_id=self._input.trigger.event_id,
        )
        if context is not None and not context.exists:
            raise _Exited("unknown_customer")

    def _first_send_loads_context(self, holdout: bool) -> bool:
        """Whether the first step's send can load the entry's context: nothing reads it before (no
        queued event to judge) and the step calls the send activity (not held out)."""
        first = self._journey.step(self._journey.first_step)
        return isinstance(first, SendStep) and not holdout and not self._inbox and self._current

    def _upsert_search_attributes(self) -> None:
        # start_journey sets them at start; this covers runs started otherwise. Opaque ids only.
        wanted: list[SearchAttributeUpdate[Any]] = [
            CUSTOMER_ID.value_set(self._customer_id),
            JOURNEY_ID.value_set(self._journey.journey_id),
            JOURNEY_VERSION.value_set(self._journey.version),
        ]
        current = workflow.info().typed_search_attributes
        missing = [update for update in wanted if current.get(update.key) != update.value]
        if missing:
            workflow.upsert_search_attributes(missing)

    async def _run_steps(self) -> None:
        step_id = self._state.current_step
        while step_id is not None:
            self._state.current_step = step_id
            await self._continue_as_new_if_due()
            step = self._journey.step(step_id)
            if not isinstance(step, WaitForStep):  # a wait_for drains the queue itself, with its matcher
                await self._drain(None)
            outcome, following = await self._execute(step)
            self._state.step_visits[step_id] = self._state.step_visits.get(step_id, 0) + 1
            kind = KINDS[type(step)]
            self._state.steps_taken.append(
                StepRecord(step_id=step_id, kind=kind, outcome=outcome, completed_at=workflow.now())
            )
            del self._state.steps_taken[:-STEPS_KEPT]
            if not self._end_recorded:
                await self._record(
                    "journey.step_completed", step_id=step_id, kind=kind, outcome=outcome, next_step=following
                )
            step_id = following
        self._state.current_step = None

    async def _observe_goal(self) -> None:
        goal = self._journey.definition.goal
        if goal is None or self._state.converted or self._state.entered_at is None:
            return
        self._state.waiting_for = goal.event
        # the goal check in _drain converts; the matcher then ends the wait
        await self._wait(self._state.entered_at + goal.within, lambda _event: self._state.converted)
        self._state.waiting_for = None

    async def _finish(self, reason: str) -> None:
        if reason == "completed":
            self._state.status = "converted" if self._state.converted else "completed"
        else:
            self._state.status = "exited"
            self._state.exit_reason = reason
        self._state.waiting_for = None
        self._state.waiting_until = None
        if not (self._end_recorded and reason == "completed"):
            await self._record("journey.exited", reason=reason)
        await self._record_unrecorded()
        await workflow.wait_condition(workflow.all_handlers_finished)

    # --- steps ------------------------------------------------------------------------------------
    async def _execute(self, step: AnyStep) -> tuple[str | None, str | None]:
        """(outcome, next step id) of one step."""
        following = self._journey.successors.get(step.id)
        if isinstance(step, SendStep):
            return await self._send(step, last=following is None), following
        if isinstance(step, WaitStep):
            return await self._wait_step(step), following
        if isinstance(step, WaitForStep):
            return await self._wait_for(step, following)
        if isinstance(step, BranchStep):
            goto = choose_branch(step, await self._step_namespace())
            return (goto, target(goto)) if goto else ("no_case", following)
        if isinstance(step, SplitStep):
            arm = choose_split(step, self._journey.journey_id, self._customer_id)
            self._state.vars.update(arm.vars or {})  # for the later messages' templates
            return arm.label or arm.goto, target(arm.goto)
        if isinstance(step, ScoreStep):
            return await self._score(step), following
        if isinstance(step, UpdateStep):
            return await self._update(step, last=following is None), following
        return None, None  # EndStep

    async def _send(self, step: SendStep, last: bool) -> str:
        if self._state.holdout:
            return "holdout"
        visit = self._state.step_visits.get(step.id, 0) + 1
        request = SendMessageInput(
            idempotency_key=idempotency_key(self._instance, step.id, self._customer_id, visit),
            customer_id=self._customer_id,
            journey_id=self._journey.journey_id,
            journey_version=self._journey.version,
            instance_id=workflow.info().workflow_id,
            step_id=step.id,
            channels=step.send.channels,
            template=step.send.template,
            purpose=self._journey.definition.purpose,
            variables=self._template_variables(),
        )
        if not (self._current or workflow.patched(QUIET_HOURS_PATCH)):
            return await self._send_once(request)
        request = request.model_copy(
            update={
                "sending_hours": step.send.sending_hours_text(),
                "can_defer": True,
                **self._carried_by_send(step, last),
            }
        )
        # continued as new while deferred: wait out the rest before asking again
        deferred_until = self._resumed_deadline(step.id)
        while True:
            if deferred_until is not None:
                await self._wait(deferred_until, None)  # an exit event still ends the run here
                self._customer = None
                # the end happens when the message goes, not when it was first asked for
                ended = [
                    event.model_copy(update={"occurred_at": workflow.now()})
                    for event in request.recorded_after
                ]
                request = request.model_copy(update={"recorded_after": ended})
            try:
                outcome = await self._send_message(request, heartbeat_timeout=_SEND_HEARTBEAT)
            except ActivityError as error:
                if is_cancelled_exception(error):
                    raise
                reason = str(error.cause or error)
                given_up = request.model_copy(update={"with_context": None, "recorded_after": []})
                await self._bookkeeping(
                    RECORD_SEND_GIVEN_UP, SendGivenUpInput(request=given_up, reason=reason)
                )
                # the reason (sealed in message.failed) may quote the provider's words, the address too
                return "failed:given_up"
            if request.with_context is not None:
                self._took_context(outcome.context or CustomerContext(customer_id=self._customer_id))
                request = request.model_copy(update={"with_context": None})
            self._end_recorded = outcome.recorded_after
            if outcome.status != "deferred" or outcome.deferred_until is None:
                return outcome.step_outcome
            # Asked again at the next allowed minute with the same key: the activity checks eligibility
            # anew (consent may have been revoked meanwhile). A moment already past (clocks differ)
            # waits a minute rather than ask again at once, round after round.
            deferred_until = outcome.deferred_until
            if deferred_until <= workflow.now():
                deferred_until = workflow.now() + _PAST_DEFERRAL

    async def _send_once(self, request: SendMessageInput) -> str:
        """The send step as histories from before quiet hours recorded it (no deferral, no give-up record)."""
        try:
            outcome = await self._send_message(request, heartbeat_timeout=None)
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            return "failed:given_up"
        return outcome.step_outcome

    async def _send_message(
        self, request: SendMessageInput, heartbeat_timeout: timedelta | None
    ) -> SendOutcome:
        carried = list(self._unrecorded)
        outcome: SendOutcome = await workflow.execute_activity(
            SEND_MESSAGE,
            request.model_copy(update={"journey_events": carried}) if carried else request,
            task_queue=self._input.send_task_queue,
            result_type=SendOutcome,
            start_to_close_timeout=timedelta(minutes=2),
            schedule_to_close_timeout=_SEND_GIVE_UP,
            heartbeat_timeout=heartbeat_timeout,
            retry_policy=_SEND_RETRY,
        )
        self._appended(carried)
        return outcome

    async def _wait_step(self, step: WaitStep) -> str:
        deadline = self._resumed_deadline(step.id)
        if deadline is None:
            try:
                deadline = wait_deadline(step.wait, workflow.now(), await self._step_namespace())
            except Exception as error:  # `until` gave no time: go on rather than stall the run
                return f"skipped:{error}"
        await self._wait(deadline, None)
        self._customer = None  # the world moved on while we waited
        return f"until {deadline.isoformat()}"

    async def _wait_for(self, step: WaitForStep, following: str | None) -> tuple[str, str | None]:
        spec = step.wait_for
        deadline = self._resumed_deadline(step.id) or workflow.now() + spec.timeout
        self._state.waiting_for = spec.event

        def wanted(event: EventRef) -> bool:
            return accepts(event, spec.event, spec.when, self._event_namespace(event))

        event = next((held for held in self._held if wanted(held)), None)
        if event is not None:
            self._held.remove(event)
        else:
            event = await self._wait(deadline, wanted)
        self._state.waiting_for = None
        self._customer = None
        if event is not None:
            self._state.waited_event = event.namespace()  # for the later messages' templates
            return "event", following if spec.on_event is None else target(spec.on_event)
        return "timeout", following if spec.on_timeout is None else target(spec.on_timeout)

    async def _update(self, step: UpdateStep, last: bool) -> str:
        spec = step.update
        namespace = await self._step_namespace()
        value: Any = spec.value
        if spec.expression is not None:
            try:
                value = evaluate(spec.expression, namespace)
            except Exception as error:  # keep the attribute as it was rather than write a wrong value
                return f"skipped:{error}"
        request = UpdateCustomerInput(
            event_id=self._next_event_id(),
            customer_id=self._customer_id,
            attribute=spec.attribute,
            value=value,
            occurred_at=workflow.now(),
            journey_events=list(self._unrecorded),
        )
        if last:  # its ids after the update's own, as the run would record them
            request.recorded_after = self._end_events(step.id, "update", "updated")
        await self._bookkeeping(UPDATE_CUSTOMER, request)
        self._appended(request.journey_events)
        self._end_recorded = bool(request.recorded_after)
        namespace["customer"][spec.attribute] = value  # later conditions see the new value
        return "updated"

    async def _score(self, step: ScoreStep) -> str:
        spec = step.score
        if spec.model_name is None:  # the compiler refuses unknown scores; a run never stalls on one
            return f"skipped:unknown score {spec.model}"
        request = ScoreCustomerInput(
            event_id=self._next_event_id(),
            customer_id=self._customer_id,
            score=spec.model,
            model=spec.model_name,
            version=spec.version,
            max_age=spec.max_age,
            occurred_at=workflow.now(),
            journey_events=list(self._unrecorded),
        )
        try:
            outcome: ScoreOutcome = await workflow.execute_activity(
                SCORE_CUSTOMER,
                request,
                result_type=ScoreOutcome,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=_SCORE_RETRY,
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                raise
            return f"failed:{error.cause or error}"
        self._appended(request.journey_events)
        if outcome.value is not None and outcome.updated_at is not None:
            self._scores[outcome.score] = outcome
        self._customer = None  # the next condition loads the customer again, with the new score
        return outcome.outcome

    # --- waiting and events -----------------------------------------------------------------------
    async def _wait(self, deadline: datetime, take: Callable[[EventRef], bool] | None) -> EventRef | None:
        """Wait until `deadline`, handling events as they arrive; the event `take` accepted, or None."""
        self._state.waiting_until = deadline
        while True:
            matched = await self._drain(take)
            if matched is not None:
                break
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                break
            await self._continue_as_new_if_due()
            await self._record_unrecorded()  # the log shows the run's progress while it waits
            try:
                await workflow.wait_condition(lambda: bool(self._inbox), timeout=remaining)
            except TimeoutError:
                # An event delivered together with the timer still counts: the last moment wins.
                matched = await self._drain(take)
                break
        self._state.waiting_until = None
        return matched

    async def _drain(self, take: Callable[[EventRef], bool] | None) -> EventRef | None:
        """Handle queued events in arrival order until one is accepted (later ones stay queued)."""
        definition = self._journey.definition
        while self._inbox:
            event = self._inbox.pop(0)
            goal = definition.goal
            if (
                goal is not None
                and not self._state.converted
                and self._state.entered_at is not None
                and in_goal_window(self._journey, self._input.trigger, self._state.entered_at, event)
                and accepts(event, goal.event, goal.when, self._event_namespace(event))
            ):
                self._state.converted = True
                await self._record("journey.converted", goal_event=event.type, goal_event_id=event.event_id)
            if exits(definition, event, partial(self._event_namespace, event)):
                raise _Exited(event.type)
            if take is not None and take(event):
                return event
            if event.type in self._awaited_types:
                self._held.append(event)
                del self._held[:-HELD_EVENTS_KEPT]
        return None

    def _resumed_deadline(self, step_id: str) -> datetime | None:
        if self._resumed_wait is None or self._resumed_wait[0] != step_id:
            return None
        deadline = self._resumed_wait[1]
        self._resumed_wait = None
        return deadline

    async def _continue_as_new_if_due(self) -> None:
        info = workflow.info()
        if not (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._input.history_budget
        ):
            return
        await self._record_unrecorded()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            self._input.model_copy(
                update={
                    "resume": self._state.model_copy(deep=True),
                    # held events were checked for goal and exit already; checking again changes nothing
                    "pending_events": [*self._held, *self._inbox],
                    "seen_event_ids": list(self._seen),
                }
            )
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
                raise _Exited("unknown_customer")

    def _carried_by_send(self, step: SendStep, last: bool) -> dict[str, Any]:
        """What a send also does under STEPS_CARRY_PATCH: the entry's context load (the first send), and
        the step's completion and the exit (the last step, when no goal is left to observe)."""
        carried: dict[str, Any] = {}
        if self._entry_context_on_send:
            carried["with_context"] = context_request(
                self._wanted, self._customer_id, self._input.trigger, workflow.now()
            )
        if last:
            carried["recorded_after"] = self._end_events(step.id, "send", None)
        return carried

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

    def _template_variables(self) -> dict[str, Any]:
        """What a message's templates read besides `customer` (added by the send activity)."""
        variables: dict[str, Any] = {
            "event": self._input.trigger.namespace(),
            "journey": journey_namespace(self._journey),
        }
        if self._state.vars:
            variables["vars"] = dict(self._state.vars)
        if self._state.waited_event is not None:
            variables["waited_event"] = dict(self._state.waited_event)
        return variables

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
