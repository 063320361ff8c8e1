"""The event store's contract, against a real Postgres."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Row, func, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import events
from gridjourney.events.fingerprint import canonical_content, content, fingerprint
from gridjourney.events.store import CustomerErased, EventIdConflict, EventStore
from gridjourney.events.types import UnknownEventType
from gridjourney.privacy import customer_keys
from gridjourney.privacy.fields import keyed_fingerprint
from tests.events.builders import new_event, usage


async def count_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(events))).scalar_one())


async def test_append_one_returns_its_position_and_stores_the_validated_payload(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    event = new_event("customer.created", "c-1", {"name": "Ada", "phone": "+15035550100"})

    [result] = await store.append([event])

    assert result.event_id == event.event_id
    assert result.position == 1
    assert result.duplicate is False
    stored = await store.get(event.event_id)
    assert stored is not None
    assert stored.position == 1
    assert stored.type == "customer.created"
    assert stored.customer_id == "c-1"
    assert stored.occurred_at == event.occurred_at
    # Defaults of the payload model are filled in, so readers see the full shape.
    assert stored.payload == {
        "name": "Ada",
        "phone": "+15035550100",
        "email": None,
        "locale": "en",
        "time_zone": "UTC",
        "premise_id": None,
        "transformer_id": None,
        "feeder_id": None,
        "attributes": {},
    }
    assert stored.recorded_at is not None


async def test_append_a_batch_gives_consecutive_positions_in_batch_order(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    batch = [usage(kwh=n) for n in range(5)]

    results = await store.append(batch)

    assert [r.event_id for r in results] == [e.event_id for e in batch]
    assert [r.position for r in results] == [1, 2, 3, 4, 5]
    assert not any(r.duplicate for r in results)
    assert await store.head() == 5


async def test_an_append_sends_the_same_statements_whatever_the_number_of_events(engine: AsyncEngine) -> None:
    # Psycopg prepares a statement per text: a cohort chunk's append must not be new text each time.
    store = EventStore(engine)
    await store.append([usage()])  # c-1's data key is created on first use (privacy/customer_keys.py)
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    texts: list[list[str]] = []
    sa_event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        for size in (2, 60):
            sent.clear()
            batch = [usage(kwh=n) for n in range(size)]
            results = await store.append(batch)
            assert [r.event_id for r in results] == [e.event_id for e in batch]
            assert [r.position for r in results] == list(
                range(results[0].position, results[0].position + size)
            )
            texts.append(list(sent))
    finally:
        sa_event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert texts[0] == texts[1]


async def test_repeated_append_returns_the_original_position_and_writes_nothing(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    first, second = usage(), usage()
    [original] = await store.append([first])
    await store.append([second])

    # The same content again (formatted differently by the sender): nothing is rewritten.
    repeat = first.model_copy(update={"payload": {"period_days": 1, "kwh_saved": 1}})
    [again] = await store.append([repeat])

    assert again.position == original.position == 1
    assert again.duplicate is True
    assert await count_rows(engine) == 2
    stored = await store.get(first.event_id)
    assert stored is not None
    assert stored.payload["kwh_saved"] == 1.0


async def test_batch_mixing_new_and_known_events_writes_only_the_new(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    known = usage()
    await store.append([known])
    fresh = usage()

    results = await store.append([fresh, known])

    assert [(r.position, r.duplicate) for r in results] == [(2, False), (1, True)]
    assert await count_rows(engine) == 2


async def test_duplicate_inside_one_batch_is_written_once(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    event = usage()

    results = await store.append([event, usage(), event])

    assert [r.event_id for r in results] == [event.event_id, results[1].event_id, event.event_id]
    assert results[0].position == results[2].position
    assert [r.duplicate for r in results] == [False, False, True]
    assert await count_rows(engine) == 2


async def test_unknown_type_is_refused_with_nothing_appended(engine: AsyncEngine) -> None:
    store = EventStore(engine)

    with pytest.raises(UnknownEventType) as raised:
        await store.append([usage(), new_event("bill.teleported", "c-1", {})])

    assert raised.value.event_type == "bill.teleported"
    assert "bill.teleported" in str(raised.value)
    assert await count_rows(engine) == 0


async def test_bad_payload_is_refused_naming_the_field_with_nothing_appended(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    bad = new_event("bill.projection_updated", "c-1", {"projected_amount": "lots", "typical_amount": 80})

    with pytest.raises(ValidationError) as raised:
        await store.append([usage(), bad])

    fields = {error["loc"][0] for error in raised.value.errors()}
    assert fields == {"projected_amount", "days_left"}
    assert await count_rows(engine) == 0


async def test_unknown_payload_field_is_refused(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    typo = new_event("usage.reduced", "c-1", {"kwh_saved": 1.0, "period_days": 1, "kwh_savd": 2})

    with pytest.raises(ValidationError) as raised:
        await store.append([typo])

    assert [error["loc"] for error in raised.value.errors()] == [("kwh_savd",)]
    assert await count_rows(engine) == 0


async def test_a_batch_failing_in_the_database_appends_nothing(engine: AsyncEngine) -> None:
    """All or nothing even past validation: a customer id longer than the column aborts the batch."""
    store = EventStore(engine)
    too_long = usage().model_copy(update={"customer_id": "x" * 101})

    with pytest.raises(Exception, match="value too long"):
        await store.append([usage(), usage(), too_long])

    assert await count_rows(engine) == 0
    # The store is still usable, and the failed batch left at most a hole in the positions.
    [after] = await store.append([usage()])
    assert after.duplicate is False
    assert await count_rows(engine) == 1


async def test_empty_append_does_nothing(engine: AsyncEngine) -> None:
    assert await EventStore(engine).append([]) == []
    assert await count_rows(engine) == 0


async def test_read_after_pages_by_position(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    appended = await store.append([usage(kwh=n) for n in range(7)])

    page1 = await store.read_after(0, limit=3)
    page2 = await store.read_after(page1[-1].position, limit=3)
    page3 = await store.read_after(page2[-1].position, limit=3)

    assert [e.position for e in page1] == [1, 2, 3]
    assert [e.position for e in page2] == [4, 5, 6]
    assert [e.position for e in page3] == [7]
    assert await store.read_after(7) == []
    assert [e.event_id for e in page1 + page2 + page3] == [r.event_id for r in appended]


async def test_read_customer_returns_only_that_customers_events_in_order(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([usage("a", 1), usage("b", 2), usage("a", 3)])
    restored = {"incident_id": "i", "restored_at": "2026-07-01T13:00Z"}
    await store.append([new_event("outage.restored", None, restored)])
    await store.append([usage("a", 4)])

    history = await store.read_customer("a")

    assert [(e.position, e.payload["kwh_saved"]) for e in history] == [(1, 1.0), (3, 3.0), (5, 4.0)]
    assert await store.read_customer("nobody") == []
    assert await store.get(uuid.uuid4()) is None


async def test_head_of_an_empty_log_is_zero(engine: AsyncEngine) -> None:
    assert await EventStore(engine).head() == 0


async def test_reused_event_id_with_other_content_is_a_conflict(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    first = usage(kwh=1.0)
    [written] = await store.append([first])
    changed = first.model_copy(update={"payload": {**first.payload, "kwh_saved": 2.0}})
    with pytest.raises(EventIdConflict) as raised:
        await store.append([changed])
    assert raised.value.position == written.position
    # the same content again is still an idempotent duplicate
    [again] = await store.append([first])
    assert again.duplicate and again.position == written.position
    assert await store.head() == written.position


async def test_reused_event_id_inside_one_batch_with_other_content_is_a_conflict(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    first = usage()
    other = first.model_copy(update={"source": "another-system"})
    with pytest.raises(EventIdConflict) as raised:
        await store.append([first, other])
    assert raised.value.position is None
    assert await store.head() == 0


async def _stored_row(engine: AsyncEngine, event_id: uuid.UUID) -> Row[Any]:
    async with engine.connect() as conn:
        return (await conn.execute(select(events).where(events.c.event_id == event_id))).one()


async def test_personal_fields_are_sealed_at_rest_and_read_in_the_clear(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    profile = {"name": "Ada Byron", "phone": "+15035550100", "email": "ada@example.com"}
    event = new_event("customer.created", "c-1", profile)
    await store.append([event])

    row = await _stored_row(engine, event.event_id)
    for field, value in profile.items():
        assert value not in json.dumps(row.payload)
        assert set(row.payload[field]) == {"sealed"}
    assert row.payload["locale"] == "en"  # what is not personal stays readable (and queryable)
    for read in (
        await store.get(event.event_id),
        *await store.read_customer("c-1"),
        *await store.read_after(0),
    ):
        assert read is not None
        assert {field: read.payload[field] for field in profile} == profile


async def test_a_customers_fingerprint_is_keyed_by_their_data_key(engine: AsyncEngine) -> None:
    """A plain digest of a known content could be recomputed from a guess; the HMAC cannot."""
    store = EventStore(engine)
    about_a_customer, about_a_feeder = (
        usage("c-1"),
        new_event("outage.restored", None, {"incident_id": "i-1", "restored_at": "2026-07-01T13:00:00Z"}),
    )
    await store.append([about_a_customer, about_a_feeder])

    for event, keyed in ((about_a_customer, True), (about_a_feeder, False)):
        row = await _stored_row(engine, event.event_id)
        digest = fingerprint(
            content(
                event_type=row.type,
                customer_id=row.customer_id,
                occurred_at=row.occurred_at,
                source=row.source,
                payload=row.payload,
                schema_version=row.schema_version,
            )
        )
        assert (row.fingerprint != digest) is keyed
        assert len(row.fingerprint) == 64


@pytest.mark.parametrize("customer_id", ["c-1", None])
async def test_a_row_fingerprinted_in_the_first_form_is_still_recognised(
    engine: AsyncEngine, customer_id: str | None
) -> None:
    """Rows written before the compact form hold the digest of the first (sorted JSON) form: their
    repeats stay duplicates, and other content under their event_id stays a conflict."""
    store = EventStore(engine)
    event = (
        usage(kwh=3.0)
        if customer_id
        else new_event("outage.restored", None, {"incident_id": "i-1", "restored_at": "2026-07-01T13:00:00Z"})
    )
    [written] = await store.append([event])
    row = await _stored_row(engine, event.event_id)
    first_form = canonical_content(
        event_type=row.type,
        customer_id=row.customer_id,
        occurred_at=row.occurred_at,
        source=row.source,
        payload=(await store.get(event.event_id)).payload,  # type: ignore[union-attr]
        schema_version=row.schema_version,
    )
    async with engine.begin() as conn:
        customers = {customer_id} if customer_id else set()
        keys = await customer_keys.keys_for_writing(conn, store.keyring, customers)
        digest = keyed_fingerprint(first_form, keys[customer_id]) if customer_id else fingerprint(first_form)
        assert digest != row.fingerprint  # the forms differ: what follows tests the comparison with both
        written_by_an_older_version = events.c.event_id == event.event_id
        await conn.execute(update(events).where(written_by_an_older_version).values(fingerprint=digest))

    [again] = await store.append([event])
    assert again.duplicate and again.position == written.position
    changed = event.model_copy(update={"source": "another-system"})
    with pytest.raises(EventIdConflict) as raised:
        await store.append([changed])
    assert raised.value.position == written.position
    assert await store.head() == written.position


async def test_new_events_about_an_erased_customer_are_refused(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    created = new_event("customer.created", "c-1", {"name": "Ada Byron"})
    await store.append([created])
    async with engine.begin() as conn:
        await customer_keys.destroy_key(conn, "c-1")

    with pytest.raises(CustomerErased, match="c-1"):
        await store.append([usage("c-1")])
    with pytest.raises(CustomerErased):  # a repeat of an old event too: nothing more is said about them
        await store.append([created])
    [other] = await store.append([usage("c-2")])  # everyone else's events go on
    assert not other.duplicate
    read = await store.get(created.event_id)
    assert read is not None and read.payload["name"] is None  # the sealed name can no longer be read
