"""STOP and unsubscribe links against the consent in force: a CRM grant older than a STOP does not
undo it (the send stays refused on consent, not only on the suppression list); a repeated STOP
records nothing new."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.eligibility import gather
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.inbound.unsubscribe import Unsubscribe, record_unsubscribe
from gridjourney.policy.model import Policy
from gridjourney.projections.consents import consent_history, not_applied_notes
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.projections.suppressions import get_suppression, suppression_removed
from tests.inbound.test_twilio_inbound import PHONE, PURPOSES, add_customer, answer, sms, sms_consents


async def crm_grant(engine: AsyncEngine, occurred_at: datetime, purpose: str = "informational") -> None:
    await EventStore(engine).append(
        [
            NewEvent(
                event_id=uuid.uuid4(),
                type="consent.changed",
                customer_id="c-1",
                occurred_at=occurred_at,
                source="crm",
                payload={"channel": "sms", "purpose": purpose, "granted": True, "method": "web"},
            )
        ]
    )
    await ProjectionRunner(engine).catch_up()


async def test_a_crm_grant_older_than_a_stop_does_not_undo_it(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, granted=("informational",))
    await answer(engine, policy, sms("STOP"))
    await crm_grant(engine, datetime.now(UTC) - timedelta(days=10))
    # An admin, believing the customer record, takes the number off the suppression list.
    await EventStore(engine).append(
        [suppression_removed("c-1", "sms", PHONE, source="admin", event_id=uuid.uuid4())]
    )
    await ProjectionRunner(engine).catch_up()

    assert (await sms_consents(engine))["informational"] == (False, "sms_reply")
    async with engine.connect() as conn:
        facts = await gather(conn, policy, "c-1", "informational", datetime.now(UTC))
        history = await consent_history(conn, "c-1")
        notes = await not_applied_notes(conn, "c-1")  # what the timeline says of the late grant
    assert facts.consents[("sms", "informational")] is False and not facts.suppressed
    [late] = [record for record in history if record.method == "web"]
    assert list(notes) == [late.position]
    why = "not applied: older than the revocation already in force (by SMS reply"
    assert notes[late.position].startswith(why)

    # START gives back what the STOP took, the grant the customer gave before it included.
    await answer(engine, policy, sms("START"))
    assert (await sms_consents(engine))["informational"] == (True, "sms_reply")


async def test_a_grant_that_happened_after_the_stop_applies(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, granted=("informational",))
    await answer(engine, policy, sms("STOP"))
    await crm_grant(engine, datetime.now(UTC))
    assert (await sms_consents(engine))["informational"] == (True, "web")


async def test_a_repeated_stop_records_nothing_new(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, granted=("informational",))
    first_reply, first = await answer(engine, policy, sms("STOP"))
    again_reply, again = await answer(engine, policy, sms("stop please"))

    assert len(first) == len(PURPOSES) + 1
    assert again == [] and again_reply == first_reply  # still answered
    assert await sms_consents(engine) == {purpose: (False, "sms_reply") for purpose in PURPOSES}


async def test_a_stop_after_the_suppression_was_lifted_suppresses_again_only(
    engine: AsyncEngine, policy: Policy
) -> None:
    await add_customer(engine, granted=("informational",))
    await answer(engine, policy, sms("STOP"))
    await EventStore(engine).append(
        [suppression_removed("c-1", "sms", PHONE, source="admin", event_id=uuid.uuid4())]
    )
    await ProjectionRunner(engine).catch_up()

    _, recorded = await answer(engine, policy, sms("STOP"))
    assert [event.type for event in recorded] == ["suppression.added"]
    async with engine.connect() as conn:
        assert await get_suppression(conn, "c-1", "sms", PHONE) is not None


async def test_a_stop_revokes_only_the_purposes_still_granted(engine: AsyncEngine, policy: Policy) -> None:
    await add_customer(engine, granted=("informational",))
    await answer(engine, policy, sms("STOP"))
    await crm_grant(engine, datetime.now(UTC), purpose="marketing")

    _, recorded = await answer(engine, policy, sms("STOP"))
    assert [(event.type, event.payload["purpose"]) for event in recorded] == [
        ("consent.changed", "marketing")
    ]
    assert await sms_consents(engine) == {purpose: (False, "sms_reply") for purpose in PURPOSES}


async def test_an_unsubscribe_link_reads_the_consent_in_force_not_the_last_arrived(
    engine: AsyncEngine,
) -> None:
    store = EventStore(engine)
    request = Unsubscribe("c-1", "sms", "informational")
    assert await record_unsubscribe(store, request, datetime.now(UTC)) is True
    await crm_grant(engine, datetime.now(UTC) - timedelta(days=3))  # late: the revocation stays in force
    assert await record_unsubscribe(store, request, datetime.now(UTC)) is False  # nothing to revoke

    await crm_grant(engine, datetime.now(UTC) + timedelta(hours=20))  # dated ahead: counts from now
    assert await record_unsubscribe(store, request, datetime.now(UTC)) is True
    await ProjectionRunner(engine).catch_up()
    assert (await sms_consents(engine))["informational"] == (False, "unsubscribe_link")
