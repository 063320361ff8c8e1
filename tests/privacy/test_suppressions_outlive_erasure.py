"""A STOP (or a bounce) outlives the erasure of the customer who sent it: the number or email stays
refused to whoever holds it next, without being kept in the clear, until a START from it."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.eligibility import gather_many
from gridjourney.events.store import EventStore
from gridjourney.policy.model import Policy
from gridjourney.privacy.address_hash import address_hash, address_hashes, normalised
from gridjourney.privacy.erasure import erase_customer
from gridjourney.privacy.keyring import Keyring
from gridjourney.projections.runner import ProjectionRunner, rebuild
from gridjourney.projections.suppressions import (
    address_wide_removal,
    suppressed_addresses,
    suppression_added,
)
from tests.activities.conftest import add_customer
from tests.privacy.support import all_day_policy, send_decision
from tests.privacy.test_erasure import pg_dump

PHONE = "+15035550142"
EMAIL = "Rosa.Diaz@Example.com"


async def test_a_stop_outlives_the_erasure_for_the_next_holder_of_the_number_until_start(
    engine: AsyncEngine, database_url: str, policy: Policy
) -> None:
    store = EventStore(engine)
    all_day = all_day_policy(policy)
    consent = [("sms", "informational", True), ("email", "informational", True)]
    await add_customer(engine, "c-rosa", phone=PHONE, email=EMAIL, consent=consent)
    await store.append(
        [
            suppression_added("c-rosa", "sms", PHONE, "stop_reply", "twilio", uuid.uuid4()),
            suppression_added("c-rosa", "email", EMAIL, "hard_bounce", "sendgrid", uuid.uuid4()),
        ]
    )
    assert await erase_customer(engine, store, "c-rosa") is not None
    await ProjectionRunner(engine).catch_up()
    await rebuild(engine)  # the kept suppressions are events: a rebuild folds them back
    dumped = pg_dump(database_url)
    assert (
        PHONE not in dumped and PHONE.lstrip("+") not in dumped and normalised("email", EMAIL) not in dumped
    )

    # The number and the address come back with a new customer who consented in the CRM.
    await add_customer(engine, "c-next", phone=PHONE, email=EMAIL.lower(), consent=consent)
    assert await send_decision(engine, all_day, "c-next") == (
        "sms: suppressed_address (stop_reply); email: suppressed_address (hard_bounce)"
    )
    async with engine.connect() as conn:
        batch = await gather_many(conn, all_day, ["c-next"], "informational", datetime.now(UTC))
    assert dict(batch["c-next"].suppressed) == {
        ("sms", PHONE): "stop_reply",
        ("email", EMAIL.lower()): "hard_bounce",
    }

    # START from the number: the address-wide suppression of the number is removed, the email's stays.
    async with engine.connect() as conn:
        removals = await address_wide_removal(
            conn, "sms", PHONE, "twilio", uuid.uuid4(), "start_reply", datetime.now(UTC)
        )
    assert len(removals) == 1
    await store.append(removals)
    await ProjectionRunner(engine).catch_up()
    assert await send_decision(engine, all_day, "c-next") == f"sms to {PHONE}"
    async with engine.connect() as conn:
        assert await suppressed_addresses(conn, "c-next") == {("email", EMAIL.lower()): "hard_bounce"}


def test_the_hash_is_keyed_normalised_and_checked_under_every_configured_key() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    before = Keyring({"k1": old}, "k1")
    rotated = Keyring({"k1": old, "k2": new}, "k2")
    stored = address_hash("email", "Ana@Example.COM ", before)
    assert stored.startswith("hmac-sha256:k1:") and "ana" not in stored.lower().split(":", 2)[2]
    assert stored == address_hash("email", "ana@example.com", before)  # emails compare without case
    assert stored in address_hashes("email", "ana@example.com", rotated)  # found after a rotation
    assert address_hash("sms", "ana@example.com", before) != stored  # the channel is part of it
    other = Keyring({"k1": new}, "k1")
    assert address_hash("email", "ana@example.com", other) != stored  # without the key, no match
