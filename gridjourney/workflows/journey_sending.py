"""JourneyWorkflow's send step (workflows/journey.py): quiet hours (a deferred send waits on a
timer, then asks again with the same idempotency key), a send given up after the retry policy, and
what a send also carries (the entry's context load, the last step's end records). Deterministic,
no I/O."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from gridjourney.dsl.schema import SendStep
    from gridjourney.workflows.contracts import (
        RECORD_SEND_GIVEN_UP,
        SEND_MESSAGE,
        CustomerContext,
        SendGivenUpInput,
        SendMessageInput,
        SendOutcome,
    )
    from gridjourney.workflows.decisions import context_request, idempotency_key, journey_namespace
    from gridjourney.workflows.journey_patches import QUIET_HOURS_PATCH

from gridjourney.workflows.journey_waits import JourneyWaits

_SEND_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
_SEND_GIVE_UP = timedelta(hours=12)  # a message later than this is worse than none: record it failed
# The send activity heartbeats while it holds a ledger claim (activities/send.py renews the claim's
# lease on each); a worker that died is noticed within this, not after the 2-minute timeout.
_SEND_HEARTBEAT = timedelta(seconds=30)
_PAST_DEFERRAL = timedelta(minutes=1)


class JourneySending(JourneyWaits):
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
