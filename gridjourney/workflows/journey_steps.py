"""JourneyWorkflow's step interpreter (workflows/journey.py): one step's outcome and the step after
it, for wait, wait_for, branch, split, score and update (send is journey_sending.py's).
Deterministic, no I/O."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from gridjourney.dsl.expressions import evaluate
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
    from gridjourney.workflows.contracts import (
        SCORE_CUSTOMER,
        UPDATE_CUSTOMER,
        EventRef,
        ScoreCustomerInput,
        ScoreOutcome,
        UpdateCustomerInput,
    )
    from gridjourney.workflows.decisions import accepts, choose_branch, choose_split, target, wait_deadline

from gridjourney.workflows.journey_sending import JourneySending

# Permanent reasons are a `skipped` outcome, not an error; a few tries cover a database hiccup.
_SCORE_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=1), maximum_attempts=5, non_retryable_error_types=["InvalidEvent"]
)


class JourneySteps(JourneySending):
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
