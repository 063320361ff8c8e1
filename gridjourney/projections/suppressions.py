"""The suppression list: addresses no message may go to (suppression.added / suppression.removed).

Producers (the Twilio sender and webhooks, the SendGrid webhook, an admin) append events built by
`suppression_added` / `suppression_removed`; eligibility (activities/eligibility.py) reads
`suppressed_addresses` before every send. Rows are keyed by the address itself, so a customer whose
number or email changes is reachable at the new one. A removal keeps its row (`removed_at`) with the
position, so the fold stays idempotent; customer.erased deletes the customer's rows (the addresses are
personal data).

A suppression that outlives its holder (privacy/address_hash.py) is a row of the reserved customer
`ANYONE` whose address is a keyed hash: the erasure turns the customer's suppressions into such rows
(appending their events before the key is destroyed, so a rebuild folds them back), and a STOP from a
number no customer has becomes one. `suppressed_addresses` reports them for whoever holds the address
now, under the address in the clear, so a check needs no other change; a START from the number
removes it (`address_wide_removal`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, literal, null, select, union_all
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.any_of import any_of
from gridjourney.db.tables import customers, suppressions
from gridjourney.dsl.schema import Channel
from gridjourney.events.models import NewEvent, StoredEvent
from gridjourney.events.types import SuppressionAdded, SuppressionRemoved
from gridjourney.privacy.address_hash import ANYONE, address_hash, address_hashes
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


# Address-wide suppressions: ids derived from what they hold, so a repeat appends nothing new.
ADDRESS_WIDE_NAMESPACE = uuid.UUID("0f6a3c2e-5d1b-4c8e-9a7f-2b4e6d8c1a35")
ERASURE_SOURCE = "erasure"


def kept_for_anyone(
    erased_customer_id: str, channel: Channel, address: str, reason: str, occurred_at: datetime
) -> NewEvent:
    """An erased customer's suppression, kept for whoever holds the address next (by its hash)."""
    hashed = address_hash(channel, address)
    return suppression_added(
        customer_id=ANYONE,
        channel=channel,
        address=hashed,
        reason=reason,
        source=ERASURE_SOURCE,
        event_id=uuid.uuid5(ADDRESS_WIDE_NAMESPACE, f"erased#{erased_customer_id}#{channel}#{hashed}"),
        occurred_at=occurred_at,
    )


def address_wide_suppression(
    channel: Channel, address: str, reason: str, source: str, event_id: uuid.UUID, occurred_at: datetime
) -> NewEvent:
    """The address suppressed for anyone who holds it (a STOP from a number no customer has)."""
    return suppression_added(
        customer_id=ANYONE,
        channel=channel,
        address=address_hash(channel, address),
        reason=reason,
        source=source,
        event_id=event_id,
        occurred_at=occurred_at,
    )


async def address_wide_removal(
    conn: AsyncConnection,
    channel: Channel,
    address: str,
    source: str,
    event_id: uuid.UUID,
    reason: str | None,
    occurred_at: datetime,
) -> list[NewEvent]:
    """The removal of the address-wide suppressions of the address (a START from the number): one
    per key it was hashed under; none when it has none."""
    query = select(suppressions.c.address).where(
        suppressions.c.customer_id == ANYONE,
        suppressions.c.channel == channel,
        any_of(suppressions.c.address, address_hashes(channel, address)),
        suppressions.c.removed_at.is_(None),
    )
    return [
        suppression_removed(
            customer_id=ANYONE,
            channel=channel,
            address=hashed,
            source=source,
            event_id=uuid.uuid5(event_id, hashed),
            reason=reason,
            occurred_at=occurred_at,
        )
        for hashed in (await conn.execute(query)).scalars()
    ]


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
    """The customer's suppressed addresses: (channel, address) → reason; their current phone and
    email count as suppressed when suppressed for anyone who holds them."""
    return (await suppressed_addresses_of_many(conn, [customer_id])).get(customer_id, {})


async def suppressed_addresses_of_many(
    conn: AsyncConnection, customer_ids: Sequence[str]
) -> dict[str, dict[tuple[str, str], str]]:
    """`suppressed_addresses` for many customers at once (a cohort batch), by customer id."""
    # Their suppressions and, in the same round trip, their phones and emails (reason NULL), whose
    # hashes are then looked up among the address-wide suppressions.
    own = select(
        suppressions.c.customer_id, suppressions.c.channel, suppressions.c.address, suppressions.c.reason
    ).where(any_of(suppressions.c.customer_id, customer_ids), suppressions.c.removed_at.is_(None))
    theirs = any_of(customers.c.customer_id, customer_ids)
    no_reason = null().cast(suppressions.c.reason.type)
    phones = select(customers.c.customer_id, literal("sms"), customers.c.phone, no_reason).where(
        theirs, customers.c.phone.is_not(None)
    )
    emails = select(customers.c.customer_id, literal("email"), customers.c.email, no_reason).where(
        theirs, customers.c.email.is_not(None)
    )
    found: dict[str, dict[tuple[str, str], str]] = {}
    holders: dict[str, list[tuple[str, str, str]]] = {}  # hash → (customer, channel, address)
    for customer_id, channel, address, reason in (await conn.execute(union_all(own, phones, emails))).all():
        if reason is not None:
            found.setdefault(customer_id, {})[(channel, address)] = reason
            continue
        for hashed in address_hashes(channel, address):
            holders.setdefault(hashed, []).append((customer_id, channel, address))
    if not holders:
        return found
    query = select(suppressions.c.channel, suppressions.c.address, suppressions.c.reason).where(
        suppressions.c.customer_id == ANYONE,
        any_of(suppressions.c.address, list(holders)),
        suppressions.c.removed_at.is_(None),
    )
    for channel, hashed, reason in (await conn.execute(query)).all():
        for customer_id, held_channel, address in holders[hashed]:
            if held_channel == channel:
                found.setdefault(customer_id, {})[(channel, address)] = reason
    return found


async def own_suppressions(conn: AsyncConnection, customer_id: str) -> list[tuple[Channel, str, str]]:
    """The customer's own active suppressions: (channel, address, reason), for their erasure."""
    query = select(suppressions.c.channel, suppressions.c.address, suppressions.c.reason).where(
        suppressions.c.customer_id == customer_id, suppressions.c.removed_at.is_(None)
    )
    return [(channel, address, reason) for channel, address, reason in (await conn.execute(query)).all()]


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
