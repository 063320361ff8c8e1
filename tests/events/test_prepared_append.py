"""An append seals its events before it takes the append lock (events/store.py): what changes while it
waits for the lock (an erasure, a key another append created) is caught under the lock, as if the
append had done everything under it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.store import CustomerErased, EventStore
from gridjourney.privacy import customer_keys
from tests.events.builders import new_event, usage
from tests.events.test_concurrency import wait_until_an_append_waits_for_the_lock


async def test_an_append_waiting_while_its_customer_is_erased_is_refused_and_writes_nothing(
    engine: AsyncEngine,
) -> None:
    store = EventStore(engine)
    await store.append([new_event("customer.created", "c-1", {"name": "Ada Byron"})])
    async with engine.connect() as erasing:
        await erasing.begin()
        # What an erasure does in its transaction (privacy/erasure.py), the append lock held until it ends
        [erased] = await store.append_in(erasing, [new_event("customer.erased", "c-1")])
        late = asyncio.create_task(store.append([usage("c-2"), usage("c-1")]))
        await wait_until_an_append_waits_for_the_lock(engine)  # prepared while c-1's key still existed
        await customer_keys.destroy_key(erasing, "c-1")
        await erasing.commit()

    with pytest.raises(CustomerErased, match="c-1"):
        await late
    assert await store.head() == erased.position  # all or nothing: c-2's event is not written either
    async with engine.connect() as conn:  # nor c-2's key, prepared before the lock
        assert await customer_keys.keys_for_reading(conn, store.keyring, {"c-2"}) == {"c-2": None}


async def test_a_key_created_while_an_append_waited_for_the_lock_is_the_one_it_seals_with(
    engine: AsyncEngine,
) -> None:
    store = EventStore(engine)
    profile = {"name": "Ada Byron", "phone": "+15035550100", "email": "ada@example.com"}
    created = new_event("customer.created", "c-9", profile)
    async with engine.connect() as first:
        await first.begin()
        await store.append_in(first, [usage("c-9")])  # creates c-9's key: not committed yet
        second = asyncio.create_task(store.append([created]))
        await wait_until_an_append_waits_for_the_lock(engine)  # it prepared another key for c-9
        await first.commit()
    [written] = await second

    assert not written.duplicate
    read = await store.get(created.event_id)  # sealed with the key in the table: it opens
    assert read is not None and {field: read.payload[field] for field in profile} == profile
    [again] = await store.append([created])  # fingerprinted with that key too: a repeat is recognised
    assert again.duplicate and again.position == written.position
