"""What the privacy tests share: a send decision as eligibility makes it, under a policy whose
informational hours are the whole day (the tests must pass whatever the hour)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.context import load_customer
from gridjourney.activities.eligibility import decide
from gridjourney.policy.model import Policy, PurposeRules, TimeWindow
from gridjourney.workflows.contracts import SendMessageInput


def _request(customer_id: str) -> SendMessageInput:
    return SendMessageInput(
        idempotency_key=f"k-{uuid.uuid4()}",
        customer_id=customer_id,
        journey_id="onboarding",
        journey_version=1,
        instance_id=f"onboarding:{customer_id}",
        step_id="welcome",
        channels=["sms", "email"],
        template="welcome",
        purpose="informational",
        can_defer=True,
    )


def all_day_policy(policy: Policy) -> Policy:
    rules = PurposeRules(sending_hours=[TimeWindow.parse("00:00-24:00")])
    return policy.model_copy(update={"purposes": {**policy.purposes, "informational": rules}})


async def send_decision(engine: AsyncEngine, policy: Policy, customer_id: str) -> str:
    """`sms to <number>`, or why nothing may be sent (every channel with its refusal)."""
    who = await load_customer(engine, customer_id)
    assert who is not None
    async with engine.begin() as conn:
        decision = await decide(conn, policy, who, _request(customer_id), {"sms", "email"}, datetime.now(UTC))
    return decision.reason() if decision.channel is None else f"{decision.channel} to {decision.recipient}"
