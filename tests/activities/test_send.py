"""SEND_MESSAGE against real Postgres and the Twilio stand-in over HTTP. Quiet hours and caps are
switched off here (`open_policy`) so the checks hold at any hour; test_send_policy.py covers them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from gridjourney.activities import JourneyActivities, SendInProgress, ledger
from gridjourney.channels.base import Sender, TransientSendError
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.db.tables import outbox_messages, send_ledger
from gridjourney.dsl.schema import Channel, Purpose
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.workflows.contracts import SendMessageInput
from tests.activities.conftest import add_customer, message_events


async def message_and_suppression_events(engine: AsyncEngine, customer_id: str) -> list[tuple[str, Any]]:
    """message.* and suppression.* events of the customer, opened (addresses are sealed at rest)."""
    stored = await EventStore(engine).read_customer(customer_id)
    return [(e.type, e.payload) for e in stored if e.type.startswith(("message.", "suppression."))]


ALL_PURPOSES = [("sms", "marketing", True), ("sms", "informational", True), ("email", "informational", True)]


def open_policy(policy: Policy) -> Policy:
    """The shipped policy without quiet hours and caps: consent and contact points still apply."""
    purposes = {
        purpose: rules.model_copy(update={"exempt_from": ["quiet_hours", "frequency_caps"]})
        for purpose, rules in policy.purposes.items()
    }
    return policy.model_copy(update={"purposes": purposes})


@pytest.fixture
def activities(
    engine: AsyncEngine, settings: Settings, senders: dict[Channel, Sender], policy: Policy
) -> JourneyActivities:
    return JourneyActivities(engine, settings, senders, policy=open_policy(policy))


def request(
    customer_id: str = "c1",
    *,
    channels: list[Channel] | None = None,
    purpose: Purpose = "informational",
    template: str = "high_bill",
    key: str | None = None,
) -> SendMessageInput:
    instance = f"journey:high_bill:{customer_id}:2026-11"
    return SendMessageInput(
        idempotency_key=key or f"{instance}/alert/{customer_id}",
        customer_id=customer_id,
        journey_id="high_bill",
        journey_version=3,
        instance_id=instance,
        step_id="alert",
        channels=channels or ["sms", "email"],
        template=template,
        purpose=purpose,
        variables={"event": {"projected_amount": 182, "type": "bill.projection_updated"}},
    )


async def ledger_status(engine: AsyncEngine, key: str) -> str | None:
    row = await ledger.get(engine, key)
    return None if row is None else row.status


async def test_a_consented_customer_gets_one_sms_even_when_the_activity_runs_twice(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    first = await activities.send_message(request())
    again = await activities.send_message(request())

    [sms] = standin.received
    assert sms.to == "+15035550100"
    assert sms.body == "Hi Ana, your bill may reach $182. Reply STOP to opt out."
    assert (first.status, first.channel, first.provider_message_id, first.duplicate) == (
        "sent",
        "sms",
        sms.sid,
        False,
    )
    assert again == first.model_copy(update={"duplicate": True})
    [(event_type, payload)] = await message_events(engine, "c1")
    assert event_type == "message.sent"
    assert payload["provider_message_id"] == sms.sid
    assert (payload["channel"], payload["locale"], payload["step_id"], payload["segments"]) == (
        "sms",
        "en",
        "alert",
        1,
    )
    assert await ledger_status(engine, request().idempotency_key) == "sent"


async def test_concurrent_attempts_send_once(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    outcomes = await asyncio.gather(*(activities.send_message(request()) for _ in range(6)))
    assert len(standin.received) == 1
    assert {o.provider_message_id for o in outcomes} == {standin.received[0].sid}
    assert sorted(o.duplicate for o in outcomes) == [False] + [True] * 5
    assert [t for t, _ in await message_events(engine, "c1")] == ["message.sent"]


async def test_no_consent_is_suppressed_with_the_reason_per_channel(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", email="ana@example.org", consent=[("email", "informational", False)])
    outcome = await activities.send_message(request())
    assert outcome.status == "suppressed"
    assert outcome.reason == "sms: no_consent; email: consent_revoked"
    assert standin.received == []
    [(event_type, payload)] = await message_events(engine, "c1")
    assert (event_type, payload["reason"], payload["channel"]) == ("message.suppressed", outcome.reason, None)
    assert await ledger_status(engine, request().idempotency_key) == "suppressed"


async def test_consent_is_per_purpose(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=[("sms", "informational", True)])
    outcome = await activities.send_message(request(channels=["sms"], purpose="marketing"))
    assert (outcome.status, outcome.reason) == ("suppressed", "sms: no_consent")
    assert standin.received == []


async def test_spanish_customers_get_spanish(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", locale="es", name="Lucía", consent=ALL_PURPOSES)
    await activities.send_message(request())
    assert (
        standin.received[0].body
        == "Hola Lucía, su factura podría llegar a $182. Responda STOP para cancelar."
    )
    [(_, payload)] = await message_events(engine, "c1")
    assert payload["locale"] == "es"


async def test_a_locale_without_templates_falls_back_to_english(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", locale="fr", consent=ALL_PURPOSES)
    await activities.send_message(request())
    assert standin.received[0].body.startswith("Hi Ana,")
    [(_, payload)] = await message_events(engine, "c1")
    assert payload["locale"] == "en"


async def test_channels_are_tried_in_order_down_to_the_outbox(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    # No consent for SMS: the email (dev outbox) gets the message, with its subject.
    await add_customer(
        engine,
        "c1",
        email="ana@example.org",
        attributes={"plan": "TOU-D"},
        consent=[("email", "informational", True)],
    )
    outcome = await activities.send_message(request(channels=["push", "sms", "email"]))
    assert (outcome.status, outcome.channel) == ("sent", "email")
    assert standin.received == []
    async with engine.connect() as conn:
        [row] = (await conn.execute(select(outbox_messages))).mappings().all()
    assert (row["recipient"], row["subject"]) == ("ana@example.org", "Your bill is trending high")
    assert row["body"] == "Hi Ana (TOU-D), projected $182 (high_bill v3)."
    assert outcome.provider_message_id == f"outbox-{row['id']}"


async def test_a_missing_phone_number_falls_through_to_email(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(
        engine, "c1", phone=None, email="ana@example.org", attributes={"plan": "E-1"}, consent=ALL_PURPOSES
    )
    outcome = await activities.send_message(request())
    assert (outcome.status, outcome.channel) == ("sent", "email")
    assert standin.received == []


async def test_safety_messages_rely_on_the_number_given_unless_revoked(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1")
    await add_customer(engine, "c2", phone="+15035550199", consent=[("sms", "safety", False)])
    sent = await activities.send_message(request("c1", channels=["sms"], purpose="safety", template="outage"))
    refused = await activities.send_message(
        request("c2", channels=["sms"], purpose="safety", template="outage")
    )
    assert sent.status == "sent"
    assert (refused.status, refused.reason) == ("suppressed", "sms: consent_revoked")
    assert [m.to for m in standin.received] == ["+15035550100"]


async def test_an_unknown_customer_is_suppressed(activities: JourneyActivities, engine: AsyncEngine) -> None:
    outcome = await activities.send_message(request("nobody"))
    assert (outcome.status, outcome.reason) == ("suppressed", "unknown_customer")
    assert [t for t, _ in await message_events(engine, "nobody")] == ["message.suppressed"]


async def test_an_invalid_number_fails_for_good_and_is_suppressed(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", phone="+15005550001", consent=ALL_PURPOSES)
    outcome = await activities.send_message(request())
    assert (outcome.status, outcome.channel) == ("failed", "sms")
    assert outcome.reason is not None and outcome.reason.startswith(
        "invalid_recipient: twilio 400 code 21211"
    )
    assert (await activities.send_message(request())).duplicate
    [(failed, payload), (suppression, added)] = await message_and_suppression_events(engine, "c1")
    assert (failed, payload["error_code"]) == ("message.failed", "21211")
    assert (suppression, added["channel"], added["address"]) == ("suppression.added", "sms", "+15005550001")
    assert added["reason"] == "invalid_recipient"


async def test_sms_carries_a_status_callback_naming_the_key(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    await activities.send_message(request())
    [sms] = standin.received
    quoted = "journey%3Ahigh_bill%3Ac1%3A2026-11%2Falert%2Fc1"
    assert sms.status_callback == f"http://127.0.0.1:8000/webhooks/twilio/status?key={quoted}"


async def test_a_template_with_an_unknown_variable_fails_the_message(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    outcome = await activities.send_message(request(template="broken"))
    assert outcome.status == "failed"
    assert outcome.reason is not None and "template_error" in outcome.reason and "nickname" in outcome.reason
    assert standin.received == []
    assert await ledger_status(engine, request().idempotency_key) == "failed"


async def test_a_throttled_provider_releases_the_claim_and_the_retry_sends(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    standin.fail_next(503, 20503, "Service Unavailable")
    with pytest.raises(TransientSendError):
        await activities.send_message(request())
    assert await ledger_status(engine, request().idempotency_key) == "released"
    assert await message_events(engine, "c1") == []
    outcome = await activities.send_message(request())
    assert (outcome.status, outcome.duplicate) == ("sent", False)
    assert len(standin.received) == 1
    row = await ledger.get(engine, request().idempotency_key)
    assert row is not None and row.attempts == 2


@pytest.mark.parametrize("purpose", ["marketing", "informational", "safety"])
async def test_a_provider_call_that_may_have_gone_through_is_looked_up_before_sending(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn, purpose: Purpose
) -> None:
    await add_customer(engine, "c1", consent=[("sms", purpose, True)])
    standin.fail_next(502, 20500, "Bad Gateway")  # Twilio did not keep it; the client cannot know
    with pytest.raises(TransientSendError):
        await activities.send_message(request(channels=["sms"], purpose=purpose))
    assert await ledger_status(engine, request().idempotency_key) == "ambiguous"

    outcome = await activities.send_message(request(channels=["sms"], purpose=purpose))
    assert (outcome.status, len(standin.received)) == ("sent", 1)
    assert outcome.provider_message_id == standin.received[0].sid
    assert [t for t, _ in await message_events(engine, "c1")] == ["message.sent"]


@pytest.mark.parametrize("reserved", [False, True])
@pytest.mark.parametrize("purpose", ["marketing", "informational", "safety"])
async def test_a_crash_after_the_claim_before_the_provider_call_is_sent_once_by_the_next_attempt(
    engine: AsyncEngine,
    activities: JourneyActivities,
    standin: TwilioStandIn,
    purpose: Purpose,
    reserved: bool,
) -> None:
    await add_customer(engine, "c1", consent=[("sms", purpose, True)])
    key = request().idempotency_key
    # A worker took the key (and perhaps reserved SMS), then died; its lease ran out long ago.
    dead = "00000000-0000-4000-8000-000000000000"
    async with engine.begin() as conn:
        assert await ledger.acquire(conn, key, dead, timedelta(seconds=60), customer_id="c1")
        if reserved:
            assert await ledger.reserve(conn, key, dead, "sms", purpose, timedelta(seconds=60))
        await conn.execute(
            update(send_ledger)
            .where(send_ledger.c.idempotency_key == key)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(minutes=10))
        )
    outcome = await activities.send_message(request(channels=["sms"], purpose=purpose))
    assert (outcome.status, outcome.duplicate) == ("sent", False)
    assert len(standin.received) == 1
    row = await ledger.get(engine, key)
    assert row is not None and (row.status, row.attempts) == ("sent", 2)


async def test_a_claim_of_a_live_attempt_is_waited_for_then_retried(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    async with engine.begin() as conn:
        live = "00000000-0000-4000-8000-000000000001"
        await ledger.acquire(conn, request().idempotency_key, live, timedelta(seconds=60), customer_id="c1")
    activities.sending.wait_for_other = timedelta(seconds=0.2)
    with pytest.raises(SendInProgress, match="another attempt holds the claim"):
        await activities.send_message(request())
    assert standin.received == []


async def test_a_lost_ledger_mark_is_healed_from_the_event_log(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    first = await activities.send_message(request())
    # A row left open beside its recorded outcome (as an earlier version could leave it).
    async with engine.begin() as conn:
        await conn.execute(update(send_ledger).values(status="sending", completed_at=None))
    again = await activities.send_message(request())
    assert again == first.model_copy(update={"duplicate": True})
    assert len(standin.received) == 1
    assert await ledger_status(engine, request().idempotency_key) == "sent"


async def test_runs_as_a_temporal_activity_and_heartbeats(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    beats: list[object] = []
    environment = ActivityEnvironment()
    environment.on_heartbeat = lambda *details: beats.append(details)
    outcome: Any = await environment.run(activities.send_message, request())
    assert outcome.status == "sent"
    assert len(standin.received) == 1
    assert beats  # the lease keeper heartbeats as soon as it starts


async def test_ledger_notes_never_quote_a_contact_point(
    engine: AsyncEngine, activities: JourneyActivities, standin: TwilioStandIn
) -> None:
    await add_customer(engine, "c1", consent=ALL_PURPOSES)
    standin.fail_next(502, 20500, "Bad Gateway while sending to +15035550100 (ana@example.org)")
    with pytest.raises(TransientSendError):
        await activities.send_message(request())
    row = await ledger.get(engine, request().idempotency_key)
    assert row is not None and row.note is not None and "Bad Gateway" in row.note
    assert "+1503" not in row.note and "ana@" not in row.note
