"""`gridjourney sends list|resolve` as installed, against a real database."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import ledger
from gridjourney.activities.send_events import message_event_id
from gridjourney.events.store import EventStore
from tests.cli.in_process import gridjourney_in_process
from tests.cli.test_subscriptions import gridjourney

LEASE = timedelta(seconds=60)


async def ambiguous(engine: AsyncEngine, key: str) -> None:
    token = str(uuid.uuid4())
    async with engine.begin() as conn:
        await ledger.acquire(conn, key, token, LEASE, customer_id="c1", purpose="informational")
        await ledger.reserve(conn, key, token, "sms", "informational", LEASE)
        await ledger.mark_ambiguous(conn, key, token, "held: look-up unavailable", timedelta(0))


# As installed (a fresh process) here; in the test process below (tests/cli/in_process.py).
async def test_list_shows_the_sends_in_doubt(engine: AsyncEngine, database_url: str) -> None:
    await ambiguous(engine, "k-ambiguous")
    async with engine.begin() as conn:
        await ledger.acquire(conn, "k-claimed", str(uuid.uuid4()), LEASE, customer_id="c2")
    code, out = await gridjourney(database_url, "sends", "list", "--status", "ambiguous")
    assert code == 0, out
    assert "k-ambiguous" in out and "held: look-up unavailable" in out and "k-claimed" not in out
    assert "1 send(s)" in out
    code, out = await gridjourney(database_url, "sends", "list")
    assert code == 0 and "k-claimed" in out and "2 send(s)" in out
    code, out = await gridjourney(database_url, "sends", "list", "--status", "lost")
    assert code == 2 and "not a status" in out


async def test_resolve_sent_records_the_message(engine: AsyncEngine, database_url: str) -> None:
    await ambiguous(engine, "k1")
    code, out = await gridjourney_in_process(
        database_url, "sends", "resolve", "k1", "--sent", "--provider-message-id", "SM9"
    )
    assert code == 0, out
    row = await ledger.get(engine, "k1")
    assert row is not None and (row.status, row.provider_message_id) == ("sent", "SM9")
    event = await EventStore(engine).get(message_event_id("k1", "message.sent"))
    assert event is not None and event.source == "gridjourney.operator"
    assert (event.payload["channel"], event.payload["provider_message_id"]) == ("sms", "SM9")
    code, out = await gridjourney_in_process(database_url, "sends", "resolve", "k1", "--not-sent")
    assert code == 1 and "nothing to resolve, the send is sent" in out


async def test_resolve_not_sent_releases_the_row(engine: AsyncEngine, database_url: str) -> None:
    await ambiguous(engine, "k1")
    code, out = await gridjourney_in_process(database_url, "sends", "resolve", "k1", "--not-sent")
    assert code == 0, out
    row = await ledger.get(engine, "k1")
    assert row is not None and (row.status, row.channel) == ("released", None)
    async with engine.begin() as conn:  # the workflow's next retry takes it as never sent
        taken = await ledger.acquire(conn, "k1", str(uuid.uuid4()), LEASE, customer_id="c1")
    assert taken is not None and taken.status == "claimed"


async def test_resolve_refuses_a_send_in_flight_and_an_unknown_key(
    engine: AsyncEngine, database_url: str
) -> None:
    async with engine.begin() as conn:
        await ledger.acquire(conn, "k1", str(uuid.uuid4()), LEASE, customer_id="c1")
    code, out = await gridjourney_in_process(database_url, "sends", "resolve", "k1", "--sent")
    assert code == 1 and "an attempt holds the send" in out
    code, out = await gridjourney_in_process(database_url, "sends", "resolve", "nope", "--not-sent")
    assert code == 1 and "no such send" in out
    code, out = await gridjourney_in_process(database_url, "sends", "resolve", "k1")
    assert code == 2 and "--sent or --not-sent" in out
