"""What using an unsubscribe link does: a POST to `/u/{token}` (gridjourney/api/routes/unsubscribe.py)
records `consent.changed` with `granted` false and method `unsubscribe_link` for exactly the channel
and purpose the token names (gridjourney/inbound/unsubscribe_links.py makes and reads them). Every
email carries one (List-Unsubscribe and a footer link, gridjourney/channels/email.py). No login: the
signature is the proof.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from gridjourney.activities import ledger
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.inbound import queries
from gridjourney.inbound.unsubscribe_links import (
    InvalidUnsubscribeToken,
    Unsubscribe,
    UnsubscribeLinks,
    link_secrets,
    unsubscribe_links,
)

__all__ = [
    "InvalidUnsubscribeToken",
    "Unsubscribe",
    "UnsubscribeLinks",
    "link_secrets",
    "record_unsubscribe",
    "unsubscribe_links",
]

SOURCE = "gridjourney.unsubscribe"
METHOD = "unsubscribe_link"
# uuid5 namespace of the consent events links record: one per (customer, channel, purpose, prior state).
EVENT_NAMESPACE = uuid.UUID("3f0a6c2e-58b1-4d7e-9c4a-7e21b5d90f13")


async def record_unsubscribe(store: EventStore, request: Unsubscribe, now: datetime) -> bool:
    """Record the revocation unless the customer's consent for it is already revoked. True when an
    event was recorded. Under the customer's lock (activities/ledger.py), like the sends and the SMS
    replies: two clicks at once record one event, and a send decision waits for the revocation."""
    async with store.engine.begin() as conn:
        await ledger.lock_customer(conn, request.customer_id)
        latest = await queries.latest_consent(conn, request.customer_id, request.channel, request.purpose)
        if latest is not None and not latest[1]:
            return False
        after = 0 if latest is None else latest[0]
        name = f"{request.customer_id}:{request.channel}:{request.purpose}:after:{after}"
        event = NewEvent(
            event_id=uuid.uuid5(EVENT_NAMESPACE, name),
            type="consent.changed",
            customer_id=request.customer_id,
            occurred_at=now,
            source=SOURCE,
            payload={
                "channel": request.channel,
                "purpose": request.purpose,
                "granted": False,
                "method": METHOD,
            },
        )
        await store.append_in(conn, [event])
    return True
