from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities
from gridjourney.activities.context import customer_record, customer_records
from gridjourney.projections.queries import get_customers
from gridjourney.workflows.contracts import CustomerContext, LoadContextInput
from tests.activities.conftest import add_customer


async def test_loads_the_customer_from_the_projection(
    engine: AsyncEngine, activities: JourneyActivities
) -> None:
    await add_customer(
        engine, "c1", locale="es", name="Lucía", attributes={"plan": "TOU-D", "scores": {"dr": 0.7}}
    )
    context = await activities.load_context(LoadContextInput(customer_id="c1"))
    assert context == CustomerContext(
        customer_id="c1",
        name="Lucía",
        locale="es",
        time_zone="America/Los_Angeles",
        attributes={"plan": "TOU-D", "scores": {"dr": 0.7}},
        exists=True,
        local_zone="America/Los_Angeles",
    )


async def test_a_chunks_records_are_those_of_the_customers_views(engine: AsyncEngine) -> None:
    """A cohort chunk validates each record once, from its row: the record its view would give."""
    await add_customer(engine, "c1", locale="es", name="Lucía", attributes={"plan": "TOU-D", "tiers": [1, 2]})
    await add_customer(engine, "c2", phone=None, email="b@example.com", time_zone="Europe/London")
    async with engine.connect() as conn:
        records = await customer_records(conn, ["c2", "c1", "ghost"])
        views = await get_customers(conn, ["c1", "c2", "ghost"])
    assert records == {customer_id: customer_record(view) for customer_id, view in views.items()}
    assert sorted(records) == ["c1", "c2"] and records["c1"].attributes == {"plan": "TOU-D", "tiers": [1, 2]}
    assert records["c2"].email == "b@example.com" and records["c2"].phone is None


async def test_an_unknown_customer_is_a_context_that_does_not_exist(activities: JourneyActivities) -> None:
    context = await activities.load_context(LoadContextInput(customer_id="ghost"))
    assert (context.customer_id, context.exists, context.locale) == ("ghost", False, "en")


def test_templates_see_attributes_merged_with_the_profile_winning() -> None:
    context = CustomerContext(customer_id="c1", name="Ana", attributes={"plan": "E-1", "name": "spoofed"})
    assert context.namespace() == {
        "plan": "E-1",
        "name": "Ana",
        "customer_id": "c1",
        "locale": "en",
        "time_zone": "UTC",
    }
