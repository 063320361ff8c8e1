"""The baseline: a hand-written Temporal workflow doing the same three activities as the bench journey
(send an SMS, set a customer attribute, send an email), with no interpreter and no journey events."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from gridjourney.workflows.contracts import (
        SEND_MESSAGE,
        UPDATE_CUSTOMER,
        SendMessageInput,
        SendOutcome,
        UpdateCustomerInput,
    )


@workflow.defn(name="HandWrittenThreeSteps")
class HandWrittenThreeSteps:
    @workflow.run
    async def run(self, customer_id: str, send_task_queue: str) -> int:
        info = workflow.info()
        sent = 0
        for step_id, channel, template in (("sms", "sms", "welcome"), ("email", "email", "welcome")):
            outcome = await workflow.execute_activity(
                SEND_MESSAGE,
                SendMessageInput(
                    idempotency_key=f"{info.workflow_id}:{step_id}:{customer_id}",
                    customer_id=customer_id,
                    journey_id="handwritten",
                    journey_version=1,
                    instance_id=info.workflow_id,
                    step_id=step_id,
                    channels=[channel],
                    template=template,
                    purpose="informational",
                ),
                result_type=SendOutcome,
                task_queue=send_task_queue,
                start_to_close_timeout=timedelta(seconds=30),
            )
            sent += outcome.status == "sent"
            if step_id == "sms":
                await workflow.execute_activity(
                    UPDATE_CUSTOMER,
                    UpdateCustomerInput(
                        event_id=str(workflow.uuid4()),
                        customer_id=customer_id,
                        attribute="bench_touched",
                        value=True,
                        occurred_at=workflow.now(),
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                )
        return sent
