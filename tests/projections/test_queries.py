"""The read side the API uses."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import NewEvent
from gridjourney.projections import queries
from tests.events.builders import BASE_TIME, new_event, usage
from tests.projections.helpers import project


async def test_read_side_queries(engine: AsyncEngine) -> None:
    ids = {"journey_id": "onboarding", "version": 1}
    await project(
        engine,
        new_event("customer.created", "c-1", {"name": "Ada", "attributes": {"ev": True}}),
        new_event("consent.changed", "c-1", {"channel": "sms", "purpose": "marketing", "granted": True}),
        new_event("journey.entered", "c-1", {**ids, "instance_id": "i-1", "holdout": False}, minute=1),
        new_event("journey.entered", "c-2", {**ids, "instance_id": "i-2", "holdout": False}, minute=2),
        new_event("journey.exited", "c-2", {**ids, "instance_id": "i-2", "reason": "bill.issued"}, minute=3),
        new_event(
            "message.sent",
            "c-1",
            {"idempotency_key": "k1", "channel": "sms", "journey_id": "onboarding"},
            minute=4,
        ),
        new_event(
            "message.suppressed",
            "c-1",
            {"idempotency_key": "k2", "channel": "email", "reason": "no_consent"},
            minute=5,
        ),
        new_event("message.sent", "c-2", {"idempotency_key": "k3", "channel": "sms"}, minute=6),
        usage("c-1"),
    )
    async with engine.connect() as conn:
        customer = await queries.get_customer(conn, "c-1")
        assert customer is not None and (customer.name, customer.attributes) == ("Ada", {"ev": True})
        assert await queries.get_customer(conn, "nobody") is None

        consent = await queries.get_consent(conn, "c-1", "sms", "marketing")
        assert consent is not None and consent.granted
        assert await queries.get_consent(conn, "c-1", "email", "marketing") is None
        assert [c.channel for c in await queries.list_consents(conn, "c-1")] == ["sms"]

        assert [m.idempotency_key for m in await queries.list_messages(conn)] == ["k3", "k2", "k1"]
        assert [m.idempotency_key for m in await queries.list_messages(conn, customer_id="c-1")] == [
            "k2",
            "k1",
        ]
        assert [
            m.idempotency_key for m in await queries.list_messages(conn, channel="sms", status="sent")
        ] == ["k3", "k1"]
        assert [m.idempotency_key for m in await queries.list_messages(conn, journey_id="onboarding")] == [
            "k1"
        ]
        since = BASE_TIME.replace(minute=5)
        assert [
            m.idempotency_key
            for m in await queries.list_messages(conn, since=since, until=since.replace(minute=6))
        ] == ["k2"]
        assert [m.idempotency_key for m in await queries.list_messages(conn, limit=1, offset=1)] == ["k2"]

        instances = await queries.list_instances(conn, "onboarding")
        assert [(i.instance_id, i.status) for i in instances] == [("i-2", "exited"), ("i-1", "active")]
        assert [i.instance_id for i in await queries.list_instances(conn, "onboarding", status="active")] == [
            "i-1"
        ]
        assert [
            i.instance_id for i in await queries.list_instances(conn, "onboarding", customer_id="c-2")
        ] == ["i-2"]
        instance = await queries.get_instance(conn, "i-2")
        assert instance is not None and instance.exit_reason == "bill.issued"

        timeline = await queries.customer_timeline(conn, "c-1")
        assert [(row.type, row.kind) for row in timeline] == [
            ("customer.created", "event"),
            ("consent.changed", "event"),
            ("journey.entered", "journey"),
            ("message.sent", "message"),
            ("message.suppressed", "message"),
            ("usage.reduced", "event"),
        ]
        assert timeline[2].instance_id == "i-1" and timeline[3].journey_id == "onboarding"
        assert timeline[4].payload["reason"] == "no_consent"
        later = await queries.customer_timeline(conn, "c-1", after_position=timeline[3].position, limit=1)
        assert [row.type for row in later] == ["message.suppressed"]


async def test_consents_of_many_by_customer_and_of_one_purpose(engine: AsyncEngine) -> None:
    def consent(customer_id: str, channel: str, purpose: str, granted: bool, minute: int) -> NewEvent:
        payload = {"channel": channel, "purpose": purpose, "granted": granted}
        return new_event("consent.changed", customer_id, payload, minute=minute)

    await project(
        engine,
        consent("c-1", "sms", "marketing", True, 1),
        consent("c-1", "email", "informational", True, 2),
        consent("c-1", "sms", "informational", False, 3),
        consent("c-2", "push", "marketing", True, 4),
    )
    async with engine.connect() as conn:
        every = await queries.consents_of_many(conn, ["c-1", "c-2", "c-3"])
        informational = await queries.consents_of_many(conn, ["c-1", "c-2", "c-3"], "informational")

    assert every == {
        "c-1": {
            ("sms", "marketing"): True,
            ("email", "informational"): True,
            ("sms", "informational"): False,
        },
        "c-2": {("push", "marketing"): True},
    }
    assert informational == {"c-1": {("email", "informational"): True, ("sms", "informational"): False}}


async def test_many_customers_read_as_each_one_alone(engine: AsyncEngine) -> None:
    await project(
        engine,
        new_event("customer.created", "c-1", {"name": "Ada", "attributes": {"ev": True, "tiers": [1, 2]}}),
        new_event("customer.created", "c-2", {"name": None, "email": "b@example.com"}, minute=1),
        new_event(
            "customer.updated", "c-2", {"phone": "+15035550142", "time_zone": "Europe/London"}, minute=2
        ),
    )
    async with engine.connect() as conn:
        many = await queries.get_customers(conn, ["c-2", "c-1", "nobody"])
        alone = {c: await queries.get_customer(conn, c) for c in ("c-1", "c-2")}
    assert many == alone
    assert many["c-2"].phone == "+15035550142" and many["c-1"].attributes == {"ev": True, "tiers": [1, 2]}
