"""The push subscriptions projection: the browsers (Web Push endpoints) each customer registered.

push.subscribed adds or refreshes a row (an endpoint belongs to one browser profile, so the latest
customer to register it owns it); push.unsubscribed removes it, whether the customer asked or the
push service answered 404/410 (channels/push.py); customer.erased removes all of the customer's rows.

Rows are keyed by the SHA-256 of the endpoint: endpoints are long URLs, and the key must not be one.
Removals delete the row, so an event folded twice could bring a removed subscription back; the runner
folds each event once, in the transaction that moves its checkpoint (projections/runner.py), and a
rebuild starts from empty tables. After an erasure the sealed endpoint and keys of the customer's old
events read "erased" (gridjourney/privacy/fields.py): a rebuild skips them, so nothing comes back.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, String, any_, bindparam, delete, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.any_of import any_of
from gridjourney.db.tables import push_subscriptions
from gridjourney.events.models import StoredEvent
from gridjourney.events.types import PushSubscribed, PushUnsubscribed
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushSubscription:
    """What a sender needs to reach one browser: the push service URL and the browser's keys."""

    customer_id: str
    endpoint: str
    p256dh: str  # base64url of the browser's P-256 public key (RFC 8291)
    auth: str  # base64url of its 16-byte authentication secret
    created_at: datetime

    def subscription_info(self) -> dict[str, object]:
        """The shape of the browser's PushSubscription.toJSON()."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


def endpoint_key(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


def _readable(endpoint: str | None) -> bool:
    # An erased customer's sealed endpoint reads "erased" (privacy/fields.py): nothing to fold.
    return endpoint is not None and endpoint.startswith(("https://", "http://"))


async def _subscribe(conn: AsyncConnection, customer_id: str, event: StoredEvent) -> None:
    subscribed = PushSubscribed.model_validate(event.payload)
    statement = insert(push_subscriptions).values(
        endpoint_sha256=endpoint_key(subscribed.endpoint),
        customer_id=customer_id,
        endpoint=subscribed.endpoint,
        p256dh=subscribed.p256dh,
        auth=subscribed.auth,
        created_at=event.occurred_at,
        last_position=event.position,
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[push_subscriptions.c.endpoint_sha256],
            set_={
                column: statement.excluded[column]
                for column in ("customer_id", "p256dh", "auth", "created_at", "last_position")
            },
            where=push_subscriptions.c.last_position < statement.excluded.last_position,
        )
    )


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    customer_id = event.customer_id
    if customer_id is None:
        log.warning("push_subscriptions: %s at %d names no customer; ignored", event.type, event.position)
        return
    if event.type == "customer.erased":
        await conn.execute(delete(push_subscriptions).where(push_subscriptions.c.customer_id == customer_id))
        return
    if not _readable(event.payload.get("endpoint")):
        return
    if event.type == "push.subscribed":
        await _subscribe(conn, customer_id, event)
        return
    unsubscribed = PushUnsubscribed.model_validate(event.payload)
    # Only the owner's own, older row: the endpoint may since have been registered again, or by another.
    await conn.execute(
        delete(push_subscriptions).where(
            push_subscriptions.c.endpoint_sha256 == endpoint_key(unsubscribed.endpoint),
            push_subscriptions.c.customer_id == customer_id,
            push_subscriptions.c.last_position < event.position,
        )
    )


async def subscriptions_of(conn: AsyncConnection, customer_id: str) -> list[PushSubscription]:
    """The customer's subscriptions, oldest first (empty: no browser to push to)."""
    query = (
        select(push_subscriptions)
        .where(push_subscriptions.c.customer_id == customer_id)
        .order_by(push_subscriptions.c.created_at, push_subscriptions.c.endpoint_sha256)
    )
    return [_subscription(row._mapping) for row in await conn.execute(query)]


async def endpoints_of_many(conn: AsyncConnection, customer_ids: Sequence[str]) -> dict[str, list[str]]:
    """Each customer's push endpoints, oldest first (as `subscriptions_of`), for many customers."""
    query = (
        select(push_subscriptions.c.customer_id, push_subscriptions.c.endpoint)
        .where(any_of(push_subscriptions.c.customer_id, customer_ids))
        .order_by(push_subscriptions.c.created_at, push_subscriptions.c.endpoint_sha256)
    )
    found: dict[str, list[str]] = {}
    for customer_id, endpoint in await conn.execute(query):
        found.setdefault(customer_id, []).append(endpoint)
    return found


async def subscriptions_of_many(
    conn: AsyncConnection, customer_ids: Sequence[str]
) -> dict[str, list[PushSubscription]]:
    """`subscriptions_of` for many customers in one query (customers without any: absent)."""
    found: dict[str, list[PushSubscription]] = {}
    for customer_id, endpoint, p256dh, auth, created_at in await conn.execute(
        _OF_MANY, {"customer_ids": list(customer_ids)}
    ):
        subscription = PushSubscription(customer_id, endpoint, p256dh, auth, created_at)
        found.setdefault(customer_id, []).append(subscription)
    return found


# The customers as one array parameter: one statement, compiled and prepared once, whatever their
# number. An IN list of 500 was a new statement of 500 parameters per batch, which SQLAlchemy
# compiled and psycopg parsed each time (about 25 ms; the lookup in Postgres takes 0.5 ms).
_OF_MANY = (
    select(
        push_subscriptions.c.customer_id,
        push_subscriptions.c.endpoint,
        push_subscriptions.c.p256dh,
        push_subscriptions.c.auth,
        push_subscriptions.c.created_at,
    )
    .where(push_subscriptions.c.customer_id == any_(bindparam("customer_ids", type_=ARRAY(String))))
    .order_by(push_subscriptions.c.created_at, push_subscriptions.c.endpoint_sha256)
)


async def subscription_at(conn: AsyncConnection, endpoint: str) -> PushSubscription | None:
    """The subscription of this endpoint, whoever owns it."""
    query = select(push_subscriptions).where(push_subscriptions.c.endpoint_sha256 == endpoint_key(endpoint))
    row = (await conn.execute(query)).first()
    return None if row is None else _subscription(row._mapping)


def _subscription(row: RowMapping) -> PushSubscription:
    return PushSubscription(
        customer_id=row["customer_id"],
        endpoint=row["endpoint"],
        p256dh=row["p256dh"],
        auth=row["auth"],
        created_at=row["created_at"],
    )


PROJECTION = Projection(
    name="push_subscriptions",
    table=push_subscriptions,
    event_types=frozenset({"push.subscribed", "push.unsubscribed", "customer.erased"}),
    apply=apply,
)
