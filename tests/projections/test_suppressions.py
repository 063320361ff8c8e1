"""The suppression list: suppression.added / removed folded per (customer, channel, address)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.privacy.address_hash import ANYONE, address_hash
from gridjourney.privacy.erasure import erase_customer
from gridjourney.projections.runner import ProjectionRunner, apply_events, rebuild
from gridjourney.projections.suppressions import (
    get_suppression,
    list_suppressions,
    suppressed_addresses,
    suppression_added,
    suppression_removed,
)
from tests.events.builders import BASE_TIME, new_event
from tests.projections.helpers import dump, project, rows

PHONE = "+15035550100"
EMAIL = "ana@example.com"


def added(customer_id: str, channel: str, address: str, reason: str, minute: int = 0) -> NewEvent:
    return suppression_added(
        customer_id,
        channel,  # type: ignore[arg-type]
        address,
        reason,
        "test",
        uuid.uuid4(),
        occurred_at=BASE_TIME + timedelta(minutes=minute),
    )


def removed(customer_id: str, channel: str, address: str, minute: int = 0) -> NewEvent:
    return suppression_removed(
        customer_id,
        channel,  # type: ignore[arg-type]
        address,
        "admin",
        uuid.uuid4(),
        reason="fixed by support",
        occurred_at=BASE_TIME + timedelta(minutes=minute),
    )


async def active(engine: AsyncEngine, customer_id: str) -> dict[tuple[str, str], str]:
    async with engine.connect() as conn:
        return await suppressed_addresses(conn, customer_id)


async def test_added_addresses_are_suppressed_per_customer(engine: AsyncEngine) -> None:
    await project(
        engine,
        added("c-1", "sms", PHONE, "carrier_opt_out"),
        added("c-1", "email", EMAIL, "hard_bounce", minute=1),
        added("c-2", "sms", "+15035550199", "invalid_number", minute=2),
        new_event("customer.created", "c-3", {"name": "Cy"}, minute=3),
    )
    assert await active(engine, "c-1") == {("sms", PHONE): "carrier_opt_out", ("email", EMAIL): "hard_bounce"}
    assert await active(engine, "c-2") == {("sms", "+15035550199"): "invalid_number"}
    assert await active(engine, "c-3") == {}


async def test_a_removal_ends_the_suppression_and_a_later_add_restores_it(engine: AsyncEngine) -> None:
    await project(
        engine, added("c-1", "sms", PHONE, "carrier_opt_out"), removed("c-1", "sms", PHONE, minute=1)
    )
    assert await active(engine, "c-1") == {}
    [row] = await rows(engine, "suppressions")
    # The row stays as a tombstone, keeping the reason and time of the suppression it ended.
    assert (row["reason"], row["created_at"], row["removed_at"]) == (
        "carrier_opt_out",
        BASE_TIME,
        BASE_TIME + timedelta(minutes=1),
    )
    await project(engine, added("c-1", "sms", PHONE, "invalid_number", minute=2))
    assert await active(engine, "c-1") == {("sms", PHONE): "invalid_number"}


async def test_a_repeat_of_an_older_add_does_not_undo_a_removal(engine: AsyncEngine) -> None:
    first = added("c-1", "sms", PHONE, "carrier_opt_out")
    await project(engine, first, removed("c-1", "sms", PHONE, minute=1))
    [stored_add, _] = await EventStore(engine).read_after(0, 10)
    async with engine.begin() as conn:
        await apply_events(conn, [stored_add])  # folded again: older than the row, so nothing changes
    assert await active(engine, "c-1") == {}


async def test_erasure_deletes_the_customers_rows_keeps_their_suppressions_by_hash_and_a_rebuild_agrees(
    engine: AsyncEngine,
) -> None:
    store = EventStore(engine)
    await project(
        engine,
        new_event("customer.created", "c-1", {"name": "Ana", "phone": PHONE}),
        added("c-1", "sms", PHONE, "carrier_opt_out", minute=1),
        added("c-1", "email", "gone@example.com", "hard_bounce", minute=2),
        removed("c-1", "email", "gone@example.com", minute=3),
        added("c-2", "email", EMAIL, "spam_report", minute=4),
    )
    assert await erase_customer(engine, store, "c-1") is not None
    await ProjectionRunner(engine).catch_up()
    found = [
        (r["customer_id"], r["channel"], r["address"], r["reason"])
        for r in await rows(engine, "suppressions")
    ]
    # the active one is kept for anyone by its hash, the number nowhere; the removed one is not kept
    assert sorted(found) == [
        ("c-2", "email", EMAIL, "spam_report"),
        (ANYONE, "sms", address_hash("sms", PHONE), "carrier_opt_out"),
    ]
    folded = await dump(engine)
    await rebuild(engine)
    assert await dump(engine) == folded
    assert PHONE not in str(folded)


async def test_the_listing_filters_and_pages_newest_first(engine: AsyncEngine) -> None:
    await project(
        engine,
        added("c-2", "sms", "+15035550102", "invalid_number"),
        added("c-1", "sms", PHONE, "carrier_opt_out", minute=1),
        added("c-1", "email", EMAIL, "hard_bounce", minute=2),
        added("c-1", "email", "old@example.com", "hard_bounce", minute=3),
        removed("c-1", "email", "old@example.com", minute=4),
    )
    async with engine.connect() as conn:
        everything = await list_suppressions(conn)
        assert [(s.customer_id, s.channel, s.address) for s in everything] == [
            ("c-1", "email", EMAIL),
            ("c-1", "sms", PHONE),
            ("c-2", "sms", "+15035550102"),
        ]
        first = await list_suppressions(conn, limit=1)
        rest = await list_suppressions(conn, before=first[0].position)
        assert first + rest == everything
        only_sms = await list_suppressions(conn, channel="sms", customer_id="c-1")
        assert [s.address for s in only_sms] == [PHONE]
        assert await get_suppression(conn, "c-1", "email", EMAIL) is not None
        assert await get_suppression(conn, "c-1", "email", "old@example.com") is None  # removed


def test_the_builders_make_valid_events_named_by_the_caller() -> None:
    event_id = uuid.uuid4()
    event = suppression_added("c-1", "sms", PHONE, "invalid_number", "twilio", event_id)
    assert (event.event_id, event.type, event.customer_id, event.source) == (
        event_id,
        "suppression.added",
        "c-1",
        "twilio",
    )
    assert event.payload == {
        "channel": "sms",
        "address": PHONE,
        "reason": "invalid_number",
        "source": "twilio",
    }
    gone = suppression_removed("c-1", "sms", PHONE, "admin", uuid.uuid4())
    assert (gone.type, gone.payload["address"]) == ("suppression.removed", PHONE)
