"""`GET /v1/customers/{id}` (the customers and consents projections), its timeline (the event log), and
`DELETE /v1/customers/{id}`: erasure (gridjourney/privacy/erasure.py). An erased customer reads as 404
with `"erased": true`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gridjourney.api.deps import Admin, EngineDep, JourneysReader, OptionalTemporalDep, StoreDep
from gridjourney.api.explain import explain, with_derived_fields
from gridjourney.api.pagination import Page, PageQuery, decode_cursor
from gridjourney.api.problems import customer_erased, not_found, problem_responses
from gridjourney.privacy import customer_keys, fields
from gridjourney.privacy.erasure import erase_customer, erased_at
from gridjourney.privacy.temporal_erasures import finish
from gridjourney.projections import queries
from gridjourney.projections.consents import not_applied_notes

router = APIRouter(prefix="/v1/customers", tags=["customers"])


class Consent(BaseModel):
    channel: str
    purpose: str
    granted: bool
    method: str | None = None
    source: str | None = None
    updated_at: datetime


class Customer(queries.CustomerView):
    consents: list[Consent]


class TimelineEntry(BaseModel):
    position: int
    event_id: uuid.UUID
    type: str
    kind: queries.TimelineKind = Field(
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
    if await erased_at(engine, customer_id) is not None:
        raise customer_erased(customer_id, 404)
    async with engine.connect() as conn:
        customer = await queries.get_customer(conn, customer_id)
        if customer is None:
            raise not_found("customer", customer_id)
        consents = await queries.list_consents(conn, customer_id)
    return Customer(
        **customer.model_dump(), consents=[Consent.model_validate(c, from_attributes=True) for c in consents]
    )


@router.get(
    "/{customer_id}/timeline",
    summary="Everything that happened to a customer, in log order, with the reason",
    description="Events, journey steps and message decisions (sent, suppressed and why) in position order.",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_timeline(
    customer_id: str, _: JourneysReader, engine: EngineDep, store: StoreDep, page: PageQuery
) -> Page[TimelineEntry]:
    if await erased_at(engine, customer_id) is not None:
        raise customer_erased(customer_id, 404)
    limit, cursor = page
    after = int(decode_cursor(cursor, ("after",))["after"]) if cursor else 0
    async with engine.connect() as conn:
        rows = await queries.customer_timeline(conn, customer_id, after_position=after, limit=limit + 1)
        if not rows and not after and not await queries.customer_exists(conn, customer_id):
            raise not_found("customer", customer_id)
        keys = await customer_keys.keys_for_reading(conn, store.keyring, {customer_id})
        consents = await queries.list_consents(conn, customer_id)
        # a consent change older than the one in force is in the log but did not apply: its line says so
        not_applied = (
            await not_applied_notes(conn, customer_id)
            if any(row.type == "consent.changed" for row in rows)
            else {}
        )
    rows = [
        row.model_copy(
            update={"payload": fields.open_sealed(row.type, customer_id, row.payload, keys[customer_id])}
        )
        for row in rows
    ]
    entries = [
        TimelineEntry(
            **row.model_dump(exclude={"payload"}),
            payload=with_derived_fields(row.type, row.payload),
            line=explain(row.type, row.payload, revoked_by)
            + (f"; {not_applied[row.position]}" if row.position in not_applied else ""),
        )
        for row, revoked_by in zip(rows, revocations(rows, consents), strict=True)
    ]
    return Page[TimelineEntry].of(entries, limit, lambda entry: {"after": entry.position})


def revocations(
    rows: Sequence[queries.TimelineRow], consents: Sequence[queries.ConsentView]
) -> list[dict[str, str]]:
    """For each row, how each channel's consent was last revoked before it (consent.changed `method`),
    so that a suppression reads "consent revoked by SMS reply". The rows of the page tell it as they
    go; before the first of them, a revocation still in force that was made before the row tells it
    (a consent changed after the row says nothing about the row's moment)."""
    seen: dict[str, tuple[datetime, str]] = {}  # channel → (when, method), from the page
    found = []
    for row in rows:
        latest = dict(seen)
        for consent in consents:
            if consent.granted or not consent.method or consent.updated_at > row.occurred_at:
                continue
            if consent.channel not in latest or latest[consent.channel][0] < consent.updated_at:
                latest[consent.channel] = (consent.updated_at, consent.method)
        found.append({channel: method for channel, (_, method) in latest.items()})
        payload = row.payload
        if row.type == "consent.changed" and payload.get("granted") is False and payload.get("method"):
            seen[str(payload["channel"])] = (row.occurred_at, str(payload["method"]))
    return found


class Erased(BaseModel):
    customer_id: str
    erased_at: datetime
    already_erased: bool = Field(description="An earlier request erased them; nothing was done this time.")
    temporal: Literal["deleted", "pending"] = Field(
        description="`deleted`: their workflow executions in Temporal (whose histories hold their "
        "data under the deployment's keys) are deleted, running ones terminated (a check 30 s later "
        "completes it: `gridjourney privacy pending` lists it until then); `pending`: Temporal "
        "could not be reached (the erasure in the database stands): the deletion is retried until done "
        "(`gridjourney privacy pending` lists them), and repeating the request tries it at once."
    )
    workflows_deleted: int = Field(0, description="Workflow executions deleted by this request.")


@router.delete(
    "/{customer_id}",
    summary="Erase a customer's personal data (admin)",
    description="Destroys the customer's data key, so their personal fields in the event log can never "
    "be read again, removes their personal data from the projections, the outbox and their meter reads, "
    "records `customer.erased`, and deletes their workflow executions in Temporal. Idempotent: "
    "repeating it completes a Temporal part left `pending`. Afterwards their reads give 404 with "
    "`erased: true` and new events about them 410.",
    responses=problem_responses(401, 403, 404),
)
async def delete_customer(
    customer_id: str, _: Admin, engine: EngineDep, store: StoreDep, temporal: OptionalTemporalDep
) -> Erased:
    erasure = await erase_customer(engine, store, customer_id)
    if erasure is None:
        raise not_found("customer", customer_id)
    # one attempt now (recorded: a pending one is retried by the router's leader, temporal_erasures.py)
    part = await finish(engine, temporal, customer_id, erasure.erased_at)
    return Erased(
        customer_id=customer_id,
        erased_at=erasure.erased_at,
        already_erased=erasure.already,
        temporal="pending" if part.deleted is None else "deleted",
        workflows_deleted=part.deleted or 0,
    )
