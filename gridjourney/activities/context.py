"""LOAD_CONTEXT: the customer as journeys and templates see it, read from the customers projection,
with the facts the journey's date and history functions read (dsl/functions.py): local_date()'s zone,
and only what its had() and in_journey() calls ask, bounded (a window of at most 400 days, at most
HISTORY_ROWS events read per had())."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.policy.quiet_hours import zone_for
from gridjourney.projections.history import active_journeys, last_seen
from gridjourney.projections.queries import CustomerView, customer_rows, get_customer
from gridjourney.workflows.contracts import CustomerContext, LoadContextInput


class CustomerRecord(BaseModel):
    """A row of the customers projection, contact points included (these never leave activities)."""

    model_config = ConfigDict(extra="ignore")

    customer_id: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    locale: str = "en"
    time_zone: str = "UTC"
    # Where the customer is supplied: outage rules and cohort audiences read these.
    premise_id: str | None = None
    transformer_id: str | None = None
    feeder_id: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    def context(self) -> CustomerContext:
        return CustomerContext(
            customer_id=self.customer_id,
            name=self.name,
            locale=self.locale,
            time_zone=self.time_zone,
            attributes=dict(self.attributes),
        )

    def namespace(self) -> dict[str, Any]:
        """`self.context().namespace()` without building the context model: one per message rendered."""
        return {
            **self.attributes,
            "customer_id": self.customer_id,
            "name": self.name,
            "locale": self.locale,
            "time_zone": self.time_zone,
        }


async def customer_records(conn: AsyncConnection, customer_ids: Sequence[str]) -> dict[str, CustomerRecord]:
    """Many customers' records at once (a cohort chunk), by id; unknown ids are absent. Each is
    validated once, from its row (not through a CustomerView first)."""
    rows = await customer_rows(conn, customer_ids)
    return {customer_id: CustomerRecord.model_validate(row) for customer_id, row in rows.items()}


def customer_record(view: CustomerView) -> CustomerRecord:
    """The record of a customers projection row, validated from the view's own field values (its
    `model_dump` would deep-copy them first, for nothing: validation copies what it keeps)."""
    return CustomerRecord.model_validate(vars(view))


async def load_customer(engine: AsyncEngine, customer_id: str) -> CustomerRecord | None:
    async with engine.connect() as conn:
        view = await get_customer(conn, customer_id)
    return None if view is None else CustomerRecord.model_validate(view.model_dump())


async def load_context(
    engine: AsyncEngine, request: LoadContextInput | str, default_zone: str | None = None
) -> CustomerContext:
    """An unknown customer (not yet projected, or never created) is a context with exists=False:
    journeys decide what to do with it, rather than the activity failing and retrying forever.
    `default_zone`: the policy's, local_date()'s zone for a customer without one of their own."""
    if isinstance(request, str):
        request = LoadContextInput(customer_id=request)
    return await context_of(engine, await load_customer(engine, request.customer_id), request, default_zone)


async def context_of(
    engine: AsyncEngine, record: CustomerRecord | None, request: LoadContextInput, default_zone: str | None
) -> CustomerContext:
    """`load_context` for a customer read already (None: unknown)."""
    if record is None:
        return CustomerContext(customer_id=request.customer_id, exists=False)
    context = record.context()
    if default_zone is not None:
        context.local_zone = zone_for(record.time_zone, default_zone)
    if request.history or request.journeys:
        as_of = request.as_of
        assert as_of is not None  # decisions.context_request sets it with the queries
        async with engine.connect() as conn:
            context.last_seen = await last_seen(
                conn, request.customer_id, request.history, as_of, request.exclude_event_id
            )
            found = await active_journeys(conn, request.customer_id, request.journeys)
        context.in_journeys = sorted(found)
    return context
