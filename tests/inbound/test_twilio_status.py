"""Twilio status callbacks: delivered, undelivered and failed become message.* events describing the
message the send recorded; the codes that say the number cannot take SMS suppress it; repeats and
intermediate statuses record nothing."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import send_ledger
from gridjourney.events.models import StoredEvent
from gridjourney.events.store import EventStore
from gridjourney.inbound.twilio_status import StatusOutcome, StatusReport, record_status
from gridjourney.privacy.erasure import erase_customer
from tests.events.builders import new_event
from tests.projections.helpers import project

KEY = "run-1:welcome:c-1"
PHONE = "+15035550142"


async def a_sent_sms(engine: AsyncEngine, sid: str) -> None:
    """The customer, the ledger row and the message.sent the send activity leaves behind."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(send_ledger).values(
                idempotency_key=KEY,
                customer_id="c-1",
                channel="sms",
                status="sent",
                provider_message_id=sid,
                journey_id="welcome",
                step_id="hello",
            )
        )
    sent = {
        "idempotency_key": KEY,
        "journey_id": "welcome",
        "instance_id": "welcome:c-1:1",
        "step_id": "hello",
        "template": "welcome_sms",
        "channel": "sms",
        "locale": "es",
        "provider_message_id": sid,
    }
    await project(
        engine,
        new_event("customer.created", "c-1", {"phone": PHONE, "locale": "es"}),
        new_event("message.sent", "c-1", sent, minute=1),
    )


async def report(
    engine: AsyncEngine, status: str, sid: str, error_code: str | None = None, key: str = KEY
) -> tuple[StatusOutcome, list[StoredEvent]]:
    store = EventStore(engine)
    head = await store.head()
    outcome = await record_status(
        engine, store, StatusReport(key, sid, status, error_code, PHONE), datetime.now(UTC)
    )
    return outcome, await store.read_after(head)


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


async def test_delivered_describes_the_message_the_send_recorded(engine: AsyncEngine) -> None:
    sid = new_sid()
    await a_sent_sms(engine, sid)
    outcome, [event] = await report(engine, "delivered", sid)

    assert outcome == StatusOutcome("message.delivered", recorded=True, suppressed=None)
    assert (event.type, event.customer_id, event.source) == ("message.delivered", "c-1", "twilio")
    assert event.payload == {
        "idempotency_key": KEY,
        "journey_id": "welcome",
        "instance_id": "welcome:c-1:1",
        "step_id": "hello",
        "template": "welcome_sms",
        "channel": "sms",
        "locale": "es",
        "provider_message_id": sid,
    }


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        ("undelivered", "30003", "unreachable"),
        ("undelivered", "30005", "unknown_number"),
        ("failed", "30006", "landline"),
        ("failed", "21610", "carrier_opt_out"),
    ],
)
async def test_codes_that_rule_out_the_number_suppress_it(
    engine: AsyncEngine, status: str, code: str, reason: str
) -> None:
    sid = new_sid()
    await a_sent_sms(engine, sid)
    outcome, [message, suppression] = await report(engine, status, sid, code)

    assert outcome == StatusOutcome(f"message.{status}", recorded=True, suppressed=reason)
    assert message.type == f"message.{status}" and message.payload["error_code"] == code
    assert code in message.payload["reason"] and message.payload["provider_message_id"] == sid
    assert suppression.type == "suppression.added" and suppression.customer_id == "c-1"
    assert suppression.payload == {"channel": "sms", "address": PHONE, "reason": reason, "source": "twilio"}


async def test_other_failures_do_not_suppress(engine: AsyncEngine) -> None:
    sid = new_sid()
    await a_sent_sms(engine, sid)
    outcome, [event] = await report(engine, "failed", sid, "30008")
    assert outcome.suppressed is None
    assert event.type == "message.failed" and event.payload["error_code"] == "30008"
    assert event.payload["reason"] == "twilio failed (error 30008)"


@pytest.mark.parametrize("status", ["queued", "accepted", "sending", "sent", "read"])
async def test_intermediate_statuses_are_not_recorded(engine: AsyncEngine, status: str) -> None:
    sid = new_sid()
    await a_sent_sms(engine, sid)
    outcome, recorded = await report(engine, status, sid)
    assert outcome == StatusOutcome(None, recorded=False, suppressed=None) and recorded == []


async def test_a_repeated_report_records_nothing(engine: AsyncEngine) -> None:
    sid = new_sid()
    await a_sent_sms(engine, sid)
    first, recorded = await report(engine, "undelivered", sid, "30003")
    again, nothing = await report(engine, "undelivered", sid, "30003")
    assert first.recorded and len(recorded) == 2
    assert again == StatusOutcome("message.undelivered", recorded=False, suppressed=None) and nothing == []
    # Another status of the same message is news.
    later, [event] = await report(engine, "delivered", sid)
    assert later.recorded and event.type == "message.delivered"


async def test_a_report_on_an_unknown_key_names_no_customer_and_suppresses_nothing(
    engine: AsyncEngine,
) -> None:
    outcome, [event] = await report(engine, "undelivered", new_sid(), "30003", key="no-such-key")
    assert outcome == StatusOutcome("message.undelivered", recorded=True, suppressed=None)
    assert event.customer_id is None and event.payload["idempotency_key"] == "no-such-key"


async def test_a_report_on_an_erased_customers_message_records_nothing(engine: AsyncEngine) -> None:
    sid = new_sid()
    await a_sent_sms(engine, sid)
    await erase_customer(engine, EventStore(engine), "c-1")
    outcome, recorded = await report(engine, "undelivered", sid, "30003")
    assert outcome == StatusOutcome("message.undelivered", recorded=False, suppressed=None)
    assert recorded == []
