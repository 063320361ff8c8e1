"""A backtest refuses what the engine's sender refuses after an erasure: a STOP that outlived its
customer is kept for whoever holds the number next as a keyed hash (privacy/address_hash.py), and the
backtest's fold applies it to the next holder as the sender's look-up does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.backtest.run import backtest
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.privacy.erasure import erase_customer
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.projections.suppressions import suppressed_addresses, suppression_added
from tests.backtest.builders import append, compiled, customer, projection

PHONE = "+15035550188"


async def test_a_backtest_after_an_erasure_refuses_the_number_the_sender_refuses(
    engine: AsyncEngine, policy: Policy
) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=30)
    await append(
        engine,
        [
            *customer("c-gone", long_ago, phone=PHONE, grants=("sms",)),
            suppression_added(
                "c-gone", "sms", PHONE, "stop_reply", "twilio", uuid.uuid4(), long_ago + timedelta(days=1)
            ),
            # the number, given up by c-gone, now belongs to c-next, who consented in the CRM
            *customer("c-next", long_ago + timedelta(days=2), phone=PHONE, grants=("sms",)),
        ],
    )
    assert await erase_customer(engine, EventStore(engine), "c-gone") is not None
    await append(engine, [projection("c-next", datetime.now(UTC) + timedelta(minutes=1))])
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:  # what the sender reads before sending (eligibility)
        assert await suppressed_addresses(conn, "c-next") == {("sms", PHONE): "stop_reply"}

    report = await backtest(engine, compiled(), policy, now - timedelta(days=1), now + timedelta(days=1))

    alert = report.steps["alert"]
    assert (report.entered, alert.reached, alert.examples) == (1, 1, ["c-next"])
    assert alert.messages == {}  # the engine would not text the number: neither does the backtest
    # reported as a STOP: the suppression kept for anyone comes from c-gone's STOP reply
    assert (alert.refused, alert.suppressed) == (1, {"stop": 1, "no_consent": 1})
