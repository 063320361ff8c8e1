"""`GET /v1/suppressions` and `DELETE /v1/suppressions/{channel}/{address}` (scope `admin`): the
suppression list (projections/suppressions.py) as operators see and correct it.

Addresses are personal data: the listing shows only their last 4 characters, and its cursor is a log
position, never an address. A removal records `suppression.removed`; the list changes when the
projections fold it (a DELETE repeated before then records a second removal, which changes nothing).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from gridjourney.api.deps import Admin, EngineDep, StoreDep
from gridjourney.api.pagination import Page, PageQuery, decode_cursor, encode_cursor
from gridjourney.api.problems import FieldError, invalid, not_found, problem_responses
from gridjourney.dsl.schema import Channel
from gridjourney.events.fields import CUSTOMER_ID_PATTERN
from gridjourney.privacy.address_hash import ANYONE
from gridjourney.projections.suppressions import (
    Suppression,
    address_wide_removal,
    get_suppression,
    list_suppressions,
    suppression_removed,
)

router = APIRouter(prefix="/v1/suppressions", tags=["suppressions"])

SOURCE = "admin"
REMOVED_BY_ADMIN = "removed by an admin"
VISIBLE_CHARS = 4
CustomerQuery = Annotated[str, Query(pattern=CUSTOMER_ID_PATTERN, description="The customer's id.")]


def mask(address: str) -> str:
    """All but the last 4 characters hidden: `********0100`."""
    hidden = max(len(address) - VISIBLE_CHARS, 0)
    return "*" * hidden + address[hidden:]


class SuppressionItem(BaseModel):
    customer_id: str
    channel: str
    address: str = Field(description="Masked: only the last 4 characters are shown.")
    reason: str = Field(description="invalid_number, carrier_opt_out, hard_bounce, spam_report, ...")
    source: str | None = Field(description="Who added it: twilio, sendgrid, push, admin, ...")
    created_at: datetime

    @classmethod
    def of(cls, row: Suppression) -> SuppressionItem:
        return cls(
            customer_id=row.customer_id,
            channel=row.channel,
            address=mask(row.address),
            reason=row.reason,
            source=row.source,
            created_at=row.created_at,
        )


class SuppressionRemoved(BaseModel):
    customer_id: str
    channel: str
    address: str = Field(description="Masked: only the last 4 characters are shown.")
    event_id: uuid.UUID = Field(description="The suppression.removed event.")
    position: int = Field(description="Its position in the log.")


@router.get("", summary="The suppression list, newest first", responses=problem_responses(401, 403, 422))
async def list_suppressed(
    _: Admin,
    engine: EngineDep,
    page: PageQuery,
    customer_id: Annotated[
        str | None, Query(pattern=CUSTOMER_ID_PATTERN, description="Only this customer's.")
    ] = None,
    channel: Annotated[Channel | None, Query(description="Only this channel's.")] = None,
) -> Page[SuppressionItem]:
    limit, cursor = page
    before = _position(decode_cursor(cursor, ("before",))["before"]) if cursor else None
    async with engine.connect() as conn:
        rows = await list_suppressions(
            conn, customer_id=customer_id, channel=channel, before=before, limit=limit + 1
        )
    shown = rows[:limit]
    more = len(rows) > limit
    return Page[SuppressionItem](
        items=[SuppressionItem.of(row) for row in shown],
        next_cursor=encode_cursor({"before": shown[-1].position}) if more else None,
    )


@router.delete(
    "/{channel}/{address:path}",
    summary="Remove an address from the suppression list",
    description="Records `suppression.removed`: the address may be sent to again (consent permitting). "
    "URL-encode the address (`+` as `%2B`, `/` as `%2F`). 404 when the customer has no suppression of it. "
    f"`customer_id={ANYONE}` lifts a suppression kept for the address itself (a STOP from a number no "
    "customer had, or an erased customer's), given the address in full.",
    responses=problem_responses(401, 403, 404, 410, 422),
)
async def remove_suppression(
    channel: Channel,
    address: Annotated[str, Path(min_length=1, max_length=1000, description="The suppressed address.")],
    customer_id: CustomerQuery,
    _: Admin,
    engine: EngineDep,
    store: StoreDep,
) -> SuppressionRemoved:
    async with engine.connect() as conn:
        if customer_id == ANYONE:  # kept as a keyed hash of the address: found by hashing the one given
            removals = await address_wide_removal(
                conn, channel, address, SOURCE, uuid.uuid4(), REMOVED_BY_ADMIN, datetime.now(UTC)
            )
        elif await get_suppression(conn, customer_id, channel, address) is not None:
            removal = suppression_removed(
                customer_id, channel, address, SOURCE, uuid.uuid4(), reason=REMOVED_BY_ADMIN
            )
            removals = [removal]
        else:
            removals = []
    if not removals:
        raise not_found("suppression", f"{customer_id} {channel} {mask(address)}", field="address")
    result = (await store.append(removals))[0]  # CustomerErased (erased meanwhile) answers 410
    return SuppressionRemoved(
        customer_id=customer_id,
        channel=channel,
        address=mask(address),
        event_id=result.event_id,
        position=result.position,
    )


def _position(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise invalid("the cursor is not one this API returned", [FieldError(field="cursor", reason="malformed")])
