"""The consent bypass of issue 6, replayed on the running stack: a journey labelled `safety` (which is
sent without consent) carrying a tips text is refused for a `journeys:write` key and, by the compiler,
for an admin; a customer who never consented then gets no text, though the stand-in does see the
real safety message an outage at their premise sends them (the outage notice's cohort run, with
its hold taken out so that the test need not wait five minutes for it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from tests.api.test_journeys import SAFETY_TIPS
from tests.integration.cohort_journeys import outage_notice_without_hold
from tests.stack import ApiStack, api_stack, eventually

PHONE = "+15035550177"


@pytest.fixture
async def stack(engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment) -> AsyncIterator[ApiStack]:
    async with api_stack(engine, temporal_dev_env.client) as running:
        yield running


def _event(kind: str, payload: dict[str, Any], customer_id: str | None = "C-NO-CONSENT") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "customer_id": customer_id,
        "occurred_at": "2026-11-23T18:00:00+00:00",
        "source": "test",
        "payload": payload,
    }


async def test_tips_labelled_safety_never_reach_a_customer_without_consent(stack: ApiStack) -> None:
    yaml = {"Content-Type": "application/yaml"}
    by_writer = await stack.http.post("/v1/journeys", content=SAFETY_TIPS, headers=stack.writer | yaml)
    assert by_writer.status_code == 403, by_writer.text
    by_admin = await stack.http.post("/v1/journeys", content=SAFETY_TIPS, headers=stack.admin | yaml)
    assert by_admin.status_code == 422, by_admin.text
    assert any("not marked safety" in error["reason"] for error in by_admin.json()["errors"])

    created = _event(
        "customer.created",
        {"name": "Lee Park", "phone": PHONE, "time_zone": "America/Los_Angeles", "premise_id": "P-7"},
    )
    bill = _event(
        "bill.projection_updated", {"projected_amount": 212.4, "typical_amount": 138.0, "days_left": 12}
    )
    posted = await stack.http.post("/v1/events", json={"events": [created, bill]}, headers=stack.writer)
    assert posted.status_code == 201, posted.text

    async def bill_alert_suppressed() -> bool:
        response = await stack.http.get(
            "/v1/messages",
            params={"customer_id": "C-NO-CONSENT", "journey_id": "high_bill_alert"},
            headers=stack.admin,
        )
        return any(message["status"] == "suppressed" for message in response.json()["items"])

    await eventually(bill_alert_suppressed, "the high-bill alert suppressed for want of consent")

    # An outage is what `safety` is for: its notice does go out, and it is the only text they get.
    published = await stack.http.post(
        "/v1/journeys", content=outage_notice_without_hold(), headers=stack.admin | yaml
    )
    assert published.status_code == 201, published.text
    outage = _event("outage.detected", {"incident_id": "INC-7", "premise_ids": ["P-7"]}, customer_id=None)
    assert (await stack.http.post("/v1/events", json=outage, headers=stack.writer)).status_code == 201

    async def outage_notice_arrived() -> bool:
        return any(message.to == PHONE for message in stack.standin.received)

    await eventually(outage_notice_arrived, "the outage notice at the stand-in")
    texts = [message.body for message in stack.standin.received if message.to == PHONE]
    assert len(texts) == 1 and "power outage" in texts[0] and "Purpose" not in texts[0], texts
