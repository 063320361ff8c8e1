"""The messages projection through the whole life of a message: deferred, decided, reported, engaged.

(The first statuses, sent/suppressed/delivered/failed, are in tests/projections/test_folds.py.)
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import NewEvent
from gridjourney.projections.runner import rebuild
from tests.events.builders import BASE_TIME, new_event
from tests.projections.helpers import project, rows

MESSAGE = {"journey_id": "high_bill_alert", "instance_id": "i-1", "step_id": "alert", "template": "alert"}


def at(minute: int) -> datetime:
    return BASE_TIME + timedelta(minutes=minute)


def message(status: str, minute: int, key: str = "k1", **payload: Any) -> NewEvent:
    return new_event(f"message.{status}", "c-1", {"idempotency_key": key, **payload}, minute=minute)


def deferred(minute: int, until: datetime, key: str = "k1") -> NewEvent:
    return message(
        "deferred",
        minute,
        key,
        **MESSAGE,
        until=until.isoformat(),
        time_zone="America/Chicago",
        reason="sms: quiet_hours; email: quiet_hours",
    )


async def test_a_deferred_message_shows_until_when_then_what_became_of_it(engine: AsyncEngine) -> None:
    morning = at(600)
    await project(engine, deferred(0, morning), deferred(1, morning, key="k2"))
    first, _ = await rows(engine, "messages")
    assert (first["status"], first["deferred_until"], first["reason"]) == (
        "deferred",
        morning,
        "sms: quiet_hours; email: quiet_hours",
    )
    assert (first["template"], first["occurred_at"]) == ("alert", at(0))

    await project(
        engine,
        message("sent", 600, channel="sms", provider_message_id="SM1", **MESSAGE),
        # consent revoked during the night: asked again, suppressed
        message("suppressed", 601, key="k2", reason="sms: consent_revoked (sms_reply)", **MESSAGE),
    )
    sent, suppressed = await rows(engine, "messages")
    assert (sent["status"], sent["deferred_until"], sent["reason"], sent["channel"]) == (
        "sent",
        None,
        None,
        "sms",
    )
    assert (sent["occurred_at"], sent["updated_at"]) == (at(600), at(600))
    assert (suppressed["status"], suppressed["reason"]) == ("suppressed", "sms: consent_revoked (sms_reply)")


async def test_a_late_deferral_never_undoes_a_send(engine: AsyncEngine) -> None:
    await project(engine, message("sent", 5, channel="sms", **MESSAGE), deferred(4, at(600)))
    [row] = await rows(engine, "messages")
    assert (row["status"], row["deferred_until"]) == ("sent", None)


async def test_provider_reports_with_their_reasons(engine: AsyncEngine) -> None:
    email = {**MESSAGE, "channel": "email"}
    await project(
        engine,
        *(message("sent", 0, key, **email) for key in ("bounce", "drop", "undelivered", "gave_up")),
        message("bounced", 1, "bounce", bounce_type="hard", reason="550 5.1.1 unknown user"),
        message("dropped", 1, "drop", reason="Bounced Address"),
        message("undelivered", 1, "undelivered", channel="sms", error_code="30003"),
        message("failed", 1, "gave_up", reason="provider refused the message"),
    )
    found = {row["idempotency_key"]: (row["status"], row["reason"]) for row in await rows(engine, "messages")}
    assert found == {
        "bounce": ("bounced", "hard bounce: 550 5.1.1 unknown user"),
        "drop": ("dropped", "Bounced Address"),
        "undelivered": ("undelivered", "error 30003"),
        "gave_up": ("failed", "provider refused the message"),
    }


async def test_engagement_out_of_order_keeps_the_furthest_status(engine: AsyncEngine) -> None:
    # SendGrid does not order its events: an open may be recorded before the delivery.
    email = {**MESSAGE, "channel": "email"}
    await project(
        engine,
        message("sent", 0, **email),
        message("opened", 2, provider_message_id="sg-1"),
        message("delivered", 1, provider_message_id="sg-1"),
    )
    [row] = await rows(engine, "messages")
    assert (row["status"], row["provider_message_id"], row["updated_at"]) == ("opened", "sg-1", at(2))

    await project(engine, message("clicked", 3, url="https://example.com/save"), message("spam_reported", 4))
    [row] = await rows(engine, "messages")
    assert row["status"] == "spam_reported"
    await project(engine, message("opened", 5))
    [row] = await rows(engine, "messages")
    assert row["status"] == "spam_reported"


async def test_an_inbound_reply_is_no_message_row(engine: AsyncEngine) -> None:
    await project(engine, new_event("message.received", "c-1", {"body": "OUT", "keyword": "OUT"}))
    assert await rows(engine, "messages") == []


async def test_an_erasure_clears_the_providers_reasons(engine: AsyncEngine) -> None:
    await project(
        engine,
        message("bounced", 0, "k1", channel="email", reason="550 ada@example.com: no such user"),
        message("suppressed", 0, "k2", channel="sms", reason="sms: consent_revoked"),
        new_event("customer.erased", "c-1", {}, minute=1),
    )
    bounced, suppressed = await rows(engine, "messages")
    assert (bounced["status"], bounced["reason"]) == ("bounced", None)
    assert suppressed["reason"] == "sms: consent_revoked"  # the engine's own words quote nobody


def life_of(key: str, customer_id: str | None, rng: random.Random) -> list[NewEvent]:
    """Events of one message, their times and their order in the log shuffled."""
    email = {**MESSAGE, "channel": "email"}
    events = [
        deferred(rng.randrange(10), at(600), key),
        message("sent", rng.randrange(10), key, provider_message_id=f"sg-{key}", **email),
        message("delivered", rng.randrange(10), key, provider_message_id=f"sg-{key}"),
        message("bounced", rng.randrange(10), key, bounce_type="soft", reason="mailbox full"),
        message("opened", rng.randrange(10), key),
        message("failed", rng.randrange(10), key, reason="provider refused", error_code="E1"),
    ]
    chosen = rng.sample(events, rng.randrange(1, len(events) + 1))
    return [e.model_copy(update={"customer_id": customer_id}) for e in chosen]


@pytest.mark.parametrize("seed", range(3))
async def test_a_batch_folds_to_the_rows_of_event_by_event(engine: AsyncEngine, seed: int) -> None:
    # One batch: several events per message (one statement per round), an erasure in the middle.
    rng = random.Random(seed)
    before = [e for n in range(8) for e in life_of(f"k{n}", "c-1" if n % 2 else "c-2", rng)]
    after = [e for n in range(8) for e in life_of(f"k{n}", None, rng)]  # reports naming only the message
    # c-1's failure folded before the erasure loses its reason; a bounce reported after it keeps its own
    before.append(message("failed", 1, "cleared", channel="sms", reason="21211: +15035550100 invalid"))
    after.append(message("bounced", 6, "kept", bounce_type="hard", reason="550 no such user"))
    before.append(message("sent", 0, "kept", channel="email", **MESSAGE))
    rng.shuffle(before)
    rng.shuffle(after)
    erased = new_event("customer.erased", "c-1", {}, minute=5)
    assert await project(engine, *before, erased, *after) == len(before) + 1 + len(after)
    batched = await rows(engine, "messages")
    reasons = {row["idempotency_key"]: (row["status"], row["reason"]) for row in batched}
    assert reasons["cleared"] == ("failed", None)
    assert reasons["kept"] == ("bounced", "hard bounce: 550 no such user")

    await rebuild(engine, batch_size=1)  # the same log, one event per fold
    assert await rows(engine, "messages") == batched
    assert {row["idempotency_key"] for row in batched} == {"cleared", "kept", *(f"k{n}" for n in range(8))}
