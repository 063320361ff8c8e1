"""A signed STOP from a number no customer has is kept for the number (by its keyed hash, never in
the clear): a customer created later with that number and a CRM consent is not texted, until a
START from the number."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.store import EventStore
from gridjourney.inbound.twilio_inbound import InboundSms, answer_inbound
from gridjourney.policy.model import Policy
from gridjourney.projections.runner import ProjectionRunner
from tests.activities.conftest import add_customer
from tests.privacy.support import all_day_policy, send_decision
from tests.privacy.test_erasure import pg_dump

NUMBER = "+15035559999"


async def _text(engine: AsyncEngine, policy: Policy, body: str) -> int:
    store = EventStore(engine)
    message = InboundSms(message_sid="SM" + secrets.token_hex(16), from_number=NUMBER, body=body)
    answer = await answer_inbound(engine, store, policy, message, datetime.now(UTC))
    await ProjectionRunner(engine).catch_up()
    return answer.recorded


async def test_a_stop_from_an_unknown_number_holds_for_its_next_holder_until_start(
    engine: AsyncEngine, database_url: str, policy: Policy
) -> None:
    all_day = all_day_policy(policy)
    assert await _text(engine, policy, "STOP") == 1
    dumped = pg_dump(database_url)
    assert NUMBER not in dumped and NUMBER.lstrip("+") not in dumped  # kept by its hash only

    consent = [("sms", "informational", True)]
    await add_customer(engine, "c-new", phone=NUMBER, email=None, consent=consent)
    assert await send_decision(engine, all_day, "c-new") == (
        "sms: suppressed_address (stop_reply); email: no_consent"
    )

    assert await _text(engine, policy, "START") >= 1
    assert await send_decision(engine, all_day, "c-new") == f"sms to {NUMBER}"
