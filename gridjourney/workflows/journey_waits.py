"""JourneyWorkflow's waits and its event queue (workflows/journey.py): signalled events are handled
in arrival order at the run's own pace (a goal converts, an exit_on event ends the run, a wait_for
takes the first it accepts, events some wait_for awaits are held for it), and the run continues as
new when Temporal suggests it (asked before each step and while waiting). Deterministic, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from gridjourney.workflows.contracts import EventRef
    from gridjourney.workflows.decisions import accepts, exits, in_goal_window

from gridjourney.workflows.journey_base import Exited, JourneyBase

HELD_EVENTS_KEPT = 100  # events kept for a later wait_for


class JourneyWaits(JourneyBase):
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
                raise Exited(event.type)
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
