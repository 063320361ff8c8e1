"""The consents projection: the latest consent.changed per (customer, channel, purpose)."""

from __future__ import annotations

import logging

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import consents
from gridjourney.events.models import StoredEvent
from gridjourney.events.types import ConsentChanged
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    if event.customer_id is None:
        log.warning("consents: consent.changed at %d names no customer; ignored", event.position)
        return
    change = ConsentChanged.model_validate(event.payload)
    statement = insert(consents).values(
        customer_id=event.customer_id,
        channel=change.channel,
        purpose=change.purpose,
        granted=change.granted,
        source=event.source,
        method=change.method,
        updated_at=event.occurred_at,
        last_position=event.position,
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[consents.c.customer_id, consents.c.channel, consents.c.purpose],
            set_={
                column: statement.excluded[column]
                for column in ("granted", "source", "method", "updated_at", "last_position")
            },
            where=consents.c.last_position < statement.excluded.last_position,
        )
    )


PROJECTION = Projection(
    name="consents", table=consents, event_types=frozenset({"consent.changed"}), apply=apply
)
