"""LOAD_CONTEXT: the customer as journeys and templates see it, read from the customers projection."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import customers
from gridjourney.workflows.contracts import CustomerContext


class CustomerRecord(BaseModel):
    """A row of the customers projection, contact points included (these never leave activities)."""

    model_config = ConfigDict(extra="ignore")

    customer_id: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    locale: str = "en"
    time_zone: str = "UTC"
    attributes: dict[str, Any] = Field(default_factory=dict)

    def context(self) -> CustomerContext:
        return CustomerContext(
            customer_id=self.customer_id,
            name=self.name,
            locale=self.locale,
            time_zone=self.time_zone,
            attributes=dict(self.attributes),
        )


async def load_customer(engine: AsyncEngine, customer_id: str) -> CustomerRecord | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(customers).where(customers.c.customer_id == customer_id))).first()
    return None if row is None else CustomerRecord.model_validate(dict(row._mapping))


async def load_context(engine: AsyncEngine, customer_id: str) -> CustomerContext:
    """An unknown customer (not yet projected, or never created) is a context with exists=False:
    journeys decide what to do with it, rather than the activity failing and retrying forever."""
    record = await load_customer(engine, customer_id)
    if record is None:
        return CustomerContext(customer_id=customer_id, exists=False)
    return record.context()


def template_customer(context: CustomerContext) -> dict[str, Any]:
    """`customer` in templates: attributes merged in, the profile's own fields winning on a clash."""
    return {
        **context.attributes,
        "customer_id": context.customer_id,
        "name": context.name,
        "locale": context.locale,
        "time_zone": context.time_zone,
    }
