"""The suppression list: addresses no message may go to (suppression.added / suppression.removed).

Producers (the Twilio sender and webhooks, the SendGrid webhook, an admin) append events built by
`suppression_added` / `suppression_removed`; eligibility (activities/eligibility.py) reads
`suppressed_addresses` before every send. Rows are keyed by the address itself, so a customer whose
number or email changes is reachable at the new one. A removal keeps its row (`removed_at`) with the
position, so the fold stays idempotent; customer.erased deletes the customer's rows (the addresses are
personal data).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.any_of import any_of
from gridjourney.db.tables import suppressions
from gridjourney.dsl.schema import Channel
from gridjourney.events.models import NewEvent, StoredEvent
from gridjourney.events.types import SuppressionAdded, SuppressionRemoved
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)


# --- builders: every producer appends these -----------------------------------------------------------
def suppression_added(
    customer_id: str,
    channel: Channel,
    address: str,
    reason: str,
    source: str,
    event_id: uuid.UUID,
    occurred_at: datetime | None = None,
) -> NewEvent:
    """`reason`: invalid_number, carrier_opt_out, hard_bounce, spam_report, ... (snake_case).
    `event_id` makes a repeat (a retried webhook) append nothing new."""
    payload = SuppressionAdded(channel=channel, address=address, reason=reason, source=source)
    return NewEvent(
        event_id=event_id,
        type="suppression.added",
        customer_id=customer_id,
        occurred_at=occurred_at or datetime.now(UTC),
        source=source,
        payload=payload.model_dump(mode="json"),
    )


def suppression_removed(
    customer_id: str,
    channel: Channel,
    address: str,
    source: str,
    event_id: uuid.UUID,
    reason: str | None = None,
    occurred_at: datetime | None = None,
) -> NewEvent:
    payload = SuppressionRemoved(channel=channel, address=address, reason=reason)
    return NewEvent(
        event_id=event_id,
        type="suppression.removed",
        customer_id=customer_id,
        occurred_at=occurred_at or datetime.now(UTC),
        source=source,
        payload=payload.model_dump(mode="json"),
    )


# --- the fold ------------------------------------------------------------------------------------------
async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    if event.customer_id is None:
        log.warning("suppressions: %s at %d names no customer; ignored", event.type, event.position)
        return
    if event.type == "customer.erased":
        await conn.execute(delete(suppressions).where(suppressions.c.customer_id == event.customer_id))
        return
    if event.type == "suppression.added":
        added = SuppressionAdded.model_validate(event.payload)
        channel, address, reason, source = added.channel, added.address, added.reason, added.source
        removed_at = None
    else:
        removed = SuppressionRemoved.model_validate(event.payload)
        channel, address, reason, source = removed.channel, removed.address, "removed", event.source
        removed_at = event.occurred_at
    statement = insert(suppressions).values(
        customer_id=event.customer_id,
        channel=channel,
        address=address,
        reason=reason,
        source=source,
        created_at=event.occurred_at,
        removed_at=removed_at,
        last_position=event.position,
    )
    changes = {
        "removed_at": statement.excluded.removed_at,
        "last_position": statement.excluded.last_position,
    }
    if removed_at is None:  # a removal keeps the reason and time of the suppression it ends
        changes |= {
            "reason": statement.excluded.reason,
            "source": statement.excluded.source,
            "created_at": statement.excluded.created_at,
        }
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[suppressions.c.customer_id, suppressions.c.channel, suppressions.c.address],
            set_=changes,
            where=suppressions.c.last_position < statement.excluded.last_position,
        )
    )


PROJECTION = Projection(
    name="suppressions",
    table=suppressions,
    event_types=frozenset({"suppression.added", "suppression.removed", "customer.erased"}),
    apply=apply,
)


# --- reads -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Suppression:
    customer_id: str
    channel: str
    address: str
    reason: str
    source: str | None
    created_at: datetime
    position: int  # of the event that last changed it: the listing's order and cursor


_COLUMNS = (
    suppressions.c.customer_id,
    suppressions.c.channel,
    suppressions.c.address,
    suppressions.c.reason,
    suppressions.c.source,
    suppressions.c.created_at,
    suppressions.c.last_position.label("position"),
)


async def suppressed_addresses(conn: AsyncConnection, customer_id: str) -> dict[tuple[str, str], str]:
    """The customer's suppressed addresses: (channel, address) → reason."""
    query = select(suppressions.c.channel, suppressions.c.address, suppressions.c.reason).where(
        suppressions.c.customer_id == customer_id, suppressions.c.removed_at.is_(None)
    )
    return {(channel, address): reason for channel, address, reason in await conn.execute(query)}


async def suppressed_addresses_of_many(
    conn: AsyncConnection, customer_ids: Sequence[str]
) -> dict[str, dict[tuple[str, str], str]]:
    """`suppressed_addresses` for many customers at once (a cohort batch), by customer id."""
    query = select(
        suppressions.c.customer_id, suppressions.c.channel, suppressions.c.address, suppressions.c.reason
    ).where(any_of(suppressions.c.customer_id, customer_ids), suppressions.c.removed_at.is_(None))
    found: dict[str, dict[tuple[str, str], str]] = {}
    for customer_id, channel, address, reason in (await conn.execute(query)).all():
        found.setdefault(customer_id, {})[(channel, address)] = reason
    return found


async def list_suppressions(
    conn: AsyncConnection,
    *,
    customer_id: str | None = None,
    channel: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[Suppression]:
    """Active suppressions, the most recently changed first. Each event changes one row, so the
    position is a unique key, and the cursor carries no address."""
    query = (
        select(*_COLUMNS)
        .where(suppressions.c.removed_at.is_(None))
        .order_by(suppressions.c.last_position.desc())
        .limit(limit)
    )
    if customer_id is not None:
        query = query.where(suppressions.c.customer_id == customer_id)
    if channel is not None:
        query = query.where(suppressions.c.channel == channel)
    if before is not None:
        query = query.where(suppressions.c.last_position < before)
    return [Suppression(**row) for row in (await conn.execute(query)).mappings()]


async def get_suppression(
    conn: AsyncConnection, customer_id: str, channel: str, address: str
) -> Suppression | None:
    """The active suppression of this address, or None."""
    query = select(*_COLUMNS).where(
        suppressions.c.customer_id == customer_id,
        suppressions.c.channel == channel,
        suppressions.c.address == address,
        suppressions.c.removed_at.is_(None),
    )
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else Suppression(**row)
