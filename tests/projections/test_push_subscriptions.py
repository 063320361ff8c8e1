"""The push subscriptions fold: subscribe, unsubscribe, re-register, erasure, rebuild."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.store import EventStore
from gridjourney.privacy.erasure import erase_customer
from gridjourney.projections.push_subscriptions import (
    endpoint_key,
    subscription_at,
    subscriptions_of,
    subscriptions_of_many,
)
from gridjourney.projections.runner import ProjectionRunner, rebuild
from tests.events.builders import BASE_TIME, new_event
from tests.projections.helpers import project, rows

PHONE = "https://push.example.net/wpush/v2/phone"
LAPTOP = "https://push.example.net/wpush/v2/laptop"


def subscribed(endpoint: str, p256dh: str = "BPhone-key", auth: str = "auth-1") -> dict[str, Any]:
    return {"endpoint": endpoint, "p256dh": p256dh, "auth": auth}


async def endpoints_of(engine: AsyncEngine, customer_id: str) -> list[str]:
    async with engine.connect() as conn:
        return [s.endpoint for s in await subscriptions_of(conn, customer_id)]


async def test_subscriptions_are_listed_oldest_first_with_their_keys(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event("customer.created", "c-1", {"name": "Ada"}),
        new_event("push.subscribed", "c-1", subscribed(LAPTOP, "BLaptop", "a-2"), minute=2),
        new_event("push.subscribed", "c-1", subscribed(PHONE), minute=1),
    )

    async with engine.connect() as conn:
        phone, laptop = await subscriptions_of(conn, "c-1")
        assert await subscriptions_of(conn, "c-2") == []
    assert (phone.endpoint, phone.p256dh, phone.auth) == (PHONE, "BPhone-key", "auth-1")
    assert phone.created_at == BASE_TIME + timedelta(minutes=1)
    assert laptop.subscription_info() == {"endpoint": LAPTOP, "keys": {"p256dh": "BLaptop", "auth": "a-2"}}
    [row] = [r for r in await rows(engine, "push_subscriptions") if r["endpoint"] == PHONE]
    assert row["endpoint_sha256"] == endpoint_key(PHONE) and len(row["endpoint_sha256"]) == 64
    assert row["last_position"] == 3


async def test_many_customers_subscriptions_in_one_read_are_each_ones_own(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event("push.subscribed", "c-1", subscribed(LAPTOP, "BLaptop", "a-2"), minute=2),
        new_event("push.subscribed", "c-1", subscribed(PHONE), minute=1),
        new_event("push.subscribed", "c-2", subscribed(f"{PHONE}-2"), minute=3),
        new_event("push.subscribed", "c-3", subscribed(f"{PHONE}-3"), minute=4),
    )

    async with engine.connect() as conn:
        found = await subscriptions_of_many(conn, ["c-1", "c-2", "c-9"])
        one_by_one = {c: await subscriptions_of(conn, c) for c in ("c-1", "c-2")}
        assert found == one_by_one
        assert [s.endpoint for s in found["c-1"]] == [PHONE, LAPTOP]
        assert await subscriptions_of_many(conn, []) == {}


async def test_unsubscribing_removes_only_that_endpoint(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event("push.subscribed", "c-1", subscribed(PHONE)),
        new_event("push.subscribed", "c-1", subscribed(LAPTOP), minute=1),
        new_event("push.unsubscribed", "c-1", {"endpoint": PHONE, "reason": "gone"}, minute=2),
        new_event("push.unsubscribed", "c-1", {"endpoint": "https://push.example.net/unknown"}, minute=3),
    )

    assert await endpoints_of(engine, "c-1") == [LAPTOP]


async def test_registering_again_refreshes_the_keys_and_may_move_the_endpoint(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event("push.subscribed", "c-1", subscribed(PHONE, "BOld", "old")),
        new_event("push.subscribed", "c-1", subscribed(PHONE, "BNew", "new"), minute=1),
    )
    async with engine.connect() as conn:
        [again] = await subscriptions_of(conn, "c-1")
    assert (again.p256dh, again.auth) == ("BNew", "new")

    # The same browser signed in as another customer: the endpoint is theirs now, and the first
    # customer's late unsubscription cannot take it from them.
    await project(
        engine,
        new_event("push.subscribed", "c-2", subscribed(PHONE, "BNew", "new"), minute=2),
        new_event("push.unsubscribed", "c-1", {"endpoint": PHONE}, minute=3),
    )
    assert await endpoints_of(engine, "c-1") == []
    assert await endpoints_of(engine, "c-2") == [PHONE]
    async with engine.connect() as conn:
        owner = await subscription_at(conn, PHONE)
        assert await subscription_at(conn, LAPTOP) is None
    assert owner is not None and owner.customer_id == "c-2"


async def test_erasure_removes_the_subscriptions_and_a_rebuild_does_not_bring_them_back(
    engine: AsyncEngine,
) -> None:
    await project(
        engine,
        new_event("customer.created", "c-1", {"name": "Ada"}),
        new_event("push.subscribed", "c-1", subscribed(PHONE), minute=1),
        new_event("push.subscribed", "c-2", subscribed(LAPTOP), minute=2),
    )
    store = EventStore(engine)
    assert await erase_customer(engine, store, "c-1") is not None
    await ProjectionRunner(engine).catch_up()

    assert await endpoints_of(engine, "c-1") == []
    assert await endpoints_of(engine, "c-2") == [LAPTOP]
    # The erased customer's old push.subscribed reads "erased" now: folding the log again skips it.
    await rebuild(engine)
    assert await endpoints_of(engine, "c-1") == []
    assert await endpoints_of(engine, "c-2") == [LAPTOP]
    assert [r["endpoint"] for r in await rows(engine, "push_subscriptions")] == [LAPTOP]


async def test_folding_the_same_events_again_changes_nothing(engine: AsyncEngine) -> None:
    events = [
        new_event("push.subscribed", "c-1", subscribed(PHONE)),
        new_event("push.subscribed", "c-1", subscribed(LAPTOP), minute=1),
        new_event("push.unsubscribed", "c-1", {"endpoint": LAPTOP}, minute=2),
    ]
    await project(engine, *events)
    before = await rows(engine, "push_subscriptions")
    await rebuild(engine)
    assert await rows(engine, "push_subscriptions") == before
    assert [r["endpoint"] for r in before] == [PHONE]
