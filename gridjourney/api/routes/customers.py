"""`GET /v1/customers/{id}` (the customers and consents projections) and its timeline (the event log)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import exists, select

from gridjourney.api.deps import EngineDep, JourneysReader
from gridjourney.api.explain import Kind, explain, kind_of
from gridjourney.api.pagination import Page, PageQuery, decode_cursor, encode_cursor
from gridjourney.api.problems import not_found, problem_responses
from gridjourney.db.tables import consents, customers, events

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class Consent(BaseModel):
    channel: str
    purpose: str
    granted: bool
    method: str | None = None
    source: str | None = None
    updated_at: datetime


class Customer(BaseModel):
    customer_id: str
    name: str | None
    phone: str | None
    email: str | None
    locale: str
    time_zone: str
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    consents: list[Consent]


class TimelineEntry(BaseModel):
    position: int
    event_id: uuid.UUID
    type: str
    kind: Kind = Field(
        description="event: from an integration; journey: a journey step; message: a send decision"
    )
    occurred_at: datetime
    recorded_at: datetime
    source: str
    journey_id: str | None = None
    instance_id: str | None = None
    line: str = Field(
        description="What happened and why, e.g. 'message suppressed: no sms consent for marketing'."
    )
    payload: dict[str, Any]


@router.get(
    "/{customer_id}", summary="A customer and their consents", responses=problem_responses(401, 403, 404)
)
async def get_customer(customer_id: str, _: JourneysReader, engine: EngineDep) -> Customer:
    async with engine.connect() as conn:
        row = (await conn.execute(select(customers).where(customers.c.customer_id == customer_id))).first()
        if row is None:
            raise not_found("customer", customer_id)
        consent_rows = await conn.execute(
            select(consents)
            .where(consents.c.customer_id == customer_id)
            .order_by(consents.c.channel, consents.c.purpose)
        )
        consent_list = [Consent.model_validate(c._mapping) for c in consent_rows]
    return Customer.model_validate({**row._mapping, "consents": consent_list})


@router.get(
    "/{customer_id}/timeline",
    summary="Everything that happened to a customer, in log order, with the reason",
    description="Events, journey steps and message decisions (sent, suppressed and why) in position order.",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_timeline(
    customer_id: str, _: JourneysReader, engine: EngineDep, page: PageQuery
) -> Page[TimelineEntry]:
    limit, cursor = page
    after = int(decode_cursor(cursor, ("after",))["after"]) if cursor else 0
    query = (
        select(events)
        .where(events.c.customer_id == customer_id, events.c.position > after)
        .order_by(events.c.position)
        .limit(limit + 1)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        if not rows and not after:
            known = await conn.execute(select(exists().where(customers.c.customer_id == customer_id)))
            if not known.scalar_one():
                raise not_found("customer", customer_id)
    items = [
        TimelineEntry(
            position=row.position,
            event_id=row.event_id,
            type=row.type,
            kind=kind_of(row.type),
            occurred_at=row.occurred_at,
            recorded_at=row.recorded_at,
            source=row.source,
            journey_id=row.payload.get("journey_id"),
            instance_id=row.payload.get("instance_id"),
            line=explain(row.type, row.payload),
            payload=row.payload,
        )
        for row in rows[:limit]
    ]
    next_cursor = encode_cursor({"after": items[-1].position}) if len(rows) > limit else None
    return Page[TimelineEntry](items=items, next_cursor=next_cursor)
