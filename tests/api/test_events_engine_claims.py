"""POST /v1/events refuses an event that claims to be the engine's own: a source the engine records
under, or a consent method only it records (a customer's STOP/START reply, an unsubscribe link). An
integration could otherwise forge the customer's own act in the consent audit trail."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.projections.runner import ProjectionRunner
from tests.api.test_events import assert_problem, bill_event, event_count


def consent(method: str | None = "web", source: str = "crm", granted: bool = True) -> dict[str, Any]:
    payload: dict[str, Any] = {"channel": "sms", "purpose": "informational", "granted": granted}
    if method is not None:
        payload["method"] = method
    return bill_event(type="consent.changed", source=source, payload=payload)


async def test_a_forged_start_reply_is_refused_naming_source_and_method(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    created = bill_event(type="customer.created", payload={"name": "Ana"})
    assert (await client.post("/v1/events", json=created, headers=admin)).status_code == 201
    forged = consent("sms_reply", source="gridjourney.inbound")
    problem = assert_problem(await client.post("/v1/events", json=forged, headers=admin), 422, "source")
    assert "payload.method" in [error["field"] for error in problem["errors"]]
    assert await event_count(engine) == 1
    await ProjectionRunner(engine).catch_up()
    timeline = (await client.get("/v1/customers/C-1/timeline", headers=admin)).json()["items"]
    assert not any("reply START" in item["line"] for item in timeline)


@pytest.mark.parametrize(
    "source",
    [
        "gridjourney",
        "gridjourney.send",
        "GridJourney.Unsubscribe",
        " twilio",
        "sendgrid",
        # look-alikes a reader of the audit trail would take for the engine's (review R4)
        "\uff27\uff32\uff29\uff24\uff2a\uff2f\uff35\uff32\uff2e\uff25\uff39",  # fullwidth
        "twilio\u200b",  # a zero-width space
        "send-grid",
    ],
)
async def test_an_engine_source_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, source: str
) -> None:
    event = bill_event(source=source)
    assert_problem(await client.post("/v1/events", json=event, headers=admin), 422, "source")
    assert await event_count(engine) == 0


@pytest.mark.parametrize(
    "method",
    [
        "sms_reply",
        "unsubscribe_link",
        "SMS_Reply ",
        "\uff53\uff4d\uff53_\uff52\uff45\uff50\uff4c\uff59",  # fullwidth
        "sms_reply\u200b",
        "unsubscribe_link\u00ad",  # a soft hyphen
        "sms\u2010reply",  # a Unicode hyphen
    ],
)
async def test_a_method_only_the_engine_records_is_refused_in_a_batch(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, method: str
) -> None:
    batch = {"events": [consent("web"), consent(method, granted=False)]}
    problem = assert_problem(
        await client.post("/v1/events", json=batch, headers=admin), 422, "events[1].payload.method"
    )
    assert [error["field"] for error in problem["errors"]] == ["events[1].payload.method"]
    assert await event_count(engine) == 0


async def test_an_integration_s_own_consent_changes_are_kept(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    batch = {"events": [consent("web"), consent(None, source="crm-sync"), consent("sms_stop", granted=False)]}
    response = await client.post("/v1/events", json=batch, headers=admin)
    assert response.status_code == 201, response.text
    assert await event_count(engine) == 3
