"""End to end on real components: the API over the test Postgres, the Temporal dev server, the
workers, projections and router of the stack, and the SMS stand-in reached through the official
twilio client. An event posted to the API becomes an SMS at the stand-in, and the customer's
timeline says why."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.demo.utility import daytime_zones
from tests.stack import ApiStack, api_stack, eventually


@pytest.fixture
async def stack(engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment) -> AsyncIterator[ApiStack]:
    async with api_stack(engine, temporal_dev_env.client) as running:
        yield running


def _event(kind: str, customer_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "customer_id": customer_id,
        "occurred_at": "2026-11-23T15:00:00+00:00",
        "source": "billing",
        "payload": payload,
    }


async def test_high_bill_event_sends_one_sms_and_the_timeline_says_why(stack: ApiStack) -> None:
    customer = "C-IT-1"
    created = _event(
        "customer.created",
        customer,
        {
            "name": "Rosa Diaz",
            "phone": "+15035550142",
            "email": "rosa@example.com",
            # where it is daytime now: the high-bill alert sends 09:00-18:00 local (quiet hours)
            "time_zone": daytime_zones(datetime.now(UTC))[0],
        },
    )
    consent = _event(
        "consent.changed", customer, {"channel": "sms", "purpose": "informational", "granted": True}
    )
    response = await stack.http.post("/v1/events", json={"events": [created, consent]}, headers=stack.admin)
    assert response.status_code in (200, 201, 202), response.text

    bill = _event(
        "bill.projection_updated",
        customer,
        {"projected_amount": 212.4, "typical_amount": 138.0, "days_left": 12},
    )
    first = await stack.http.post("/v1/events", json=bill, headers=stack.admin)
    assert first.status_code in (200, 201, 202), first.text

    async def high_bill_sms_arrived() -> bool:
        return any("212.40" in message.body for message in stack.standin.received)

    await eventually(high_bill_sms_arrived, "the high-bill SMS at the stand-in")
    sms = next(message for message in stack.standin.received if "212.40" in message.body)
    assert sms.to == "+15035550142"

    # The same event again: the original result, no second journey, no second message.
    again = await stack.http.post("/v1/events", json=bill, headers=stack.admin)
    assert again.json()["events"][0]["duplicate"] is True
    assert again.json()["events"][0]["position"] == first.json()["events"][0]["position"]

    async def timeline_explains() -> bool:
        timeline = await stack.http.get(f"/v1/customers/{customer}/timeline", headers=stack.admin)
        types = [entry["type"] for entry in timeline.json()["items"]]
        return "journey.entered" in types and "message.sent" in types

    await eventually(timeline_explains, "the timeline shows the journey and the message")
    await asyncio.sleep(1.0)  # give a wrongly started second journey time to send
    high_bill_sms = [message for message in stack.standin.received if "212.40" in message.body]
    assert len(high_bill_sms) == 1
    timeline = (await stack.http.get(f"/v1/customers/{customer}/timeline", headers=stack.admin)).json()
    entered = [entry for entry in timeline["items"] if entry["type"] == "journey.entered"]
    assert {entry["payload"]["journey_id"] for entry in entered} >= {"high_bill_alert"}
    assert sum(entry["payload"]["journey_id"] == "high_bill_alert" for entry in entered) == 1
    sent = next(entry for entry in timeline["items"] if entry["type"] == "message.sent")
    assert sent["payload"]["channel"] == "sms"
    assert "sms" in sent["line"]
