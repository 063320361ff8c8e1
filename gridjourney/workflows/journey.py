"""JourneyWorkflow: one customer's run through a compiled journey, interpreted step by step.

One state machine; its pure decisions (branches, splits, deadlines, matching, ids) are in
decisions.py and tested on their own. This module holds the handlers and the run (entry, the step
loop, the goal's observation, the end); the parts: the run's state, context and records
(journey_base.py), waits and the event queue (journey_waits.py), the send step (journey_sending.py),
the other steps (journey_steps.py), and the patch ids that histories replay against
(journey_patches.py).

Decisions worth knowing (this docstring is the reference for them, for all the parts):
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
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    # import modules by name: `from package import module` would bypass the sandbox's pass-through
    from gridjourney.dsl.schema import SendStep, WaitForStep
    from gridjourney.temporal import CUSTOMER_ID, JOURNEY_ID, JOURNEY_VERSION
    from gridjourney.workflows.assignment import in_holdout
    from gridjourney.workflows.contracts import (
        JOURNEY_EVENT_SIGNAL,
        JOURNEY_STATE_QUERY,
        EventRef,
        JourneyInput,
        JourneyState,
        StepRecord,
    )
    from gridjourney.workflows.decisions import KINDS
    from gridjourney.workflows.journey_patches import STEPS_CARRY_PATCH

from gridjourney.workflows.journey_base import Exited
from gridjourney.workflows.journey_steps import JourneySteps

SEEN_EVENTS_KEPT = 1000  # duplicates arrive close together; older ids are forgotten
STEPS_KEPT = 200  # steps_taken in state (the full record is in the event log)


@workflow.defn(name="JourneyWorkflow")
class JourneyWorkflow(JourneySteps):
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        super().__init__(input)

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
        except Exited as exited:
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
            raise Exited("unknown_customer")

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
