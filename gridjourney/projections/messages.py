"""The messages projection: one row per idempotency key.

message.sent / message.suppressed create the row; message.delivered / message.failed (provider
reports) update its status. A report may be recorded before the send it reports on (a fast webhook
racing the send activity's record), so each event creates the row if it is missing, and a late
"sent" never downgrades a final status. customer.erased clears the provider's failure reasons of the
customer's messages (a provider's error can quote the number): a reason read before the erasure and
folded after it is cleared by the erasure's own event, which comes later in the log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import messages
from gridjourney.events.models import StoredEvent
from gridjourney.events.types import EVENT_TYPES, MessageBase
from gridjourney.projections.model import Projection

FINAL = ("delivered", "failed")
DESCRIPTIVE = ("customer_id", "journey_id", "instance_id", "step_id", "channel", "template", "locale")


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    if event.type == "customer.erased":
        await conn.execute(
            update(messages)
            .where(messages.c.customer_id == event.customer_id, messages.c.status == "failed")
            .values(reason=None)
        )
        return
    message = EVENT_TYPES[event.type].model_validate(event.payload)
    assert isinstance(message, MessageBase)
    status = event.type.removeprefix("message.")
    statement = insert(messages).values(
        idempotency_key=message.idempotency_key,
        customer_id=event.customer_id,
        journey_id=message.journey_id,
        instance_id=message.instance_id,
        step_id=message.step_id,
        channel=message.channel,
        template=message.template,
        locale=message.locale,
        status=status,
        reason=getattr(message, "reason", None),
        provider_message_id=getattr(message, "provider_message_id", None),
        occurred_at=event.occurred_at,
        updated_at=event.occurred_at,
        last_position=event.position,
    )
    new = statement.excluded
    changes: dict[str, Any]
    if status in FINAL:
        changes = {
            # What the send recorded describes the message best; a report only fills gaps.
            **{column: func.coalesce(messages.c[column], new[column]) for column in DESCRIPTIVE},
            "status": new.status,
            "reason": new.reason if status == "failed" else messages.c.reason,
            "provider_message_id": func.coalesce(new.provider_message_id, messages.c.provider_message_id),
            "updated_at": new.updated_at,
        }
    else:
        already_final = messages.c.status.in_(FINAL)
        changes = {
            **{column: func.coalesce(new[column], messages.c[column]) for column in DESCRIPTIVE},
            "status": case((already_final, messages.c.status), else_=new.status),
            "reason": case((already_final, messages.c.reason), else_=new.reason),
            "provider_message_id": func.coalesce(messages.c.provider_message_id, new.provider_message_id),
            "occurred_at": new.occurred_at,
            "updated_at": func.greatest(messages.c.updated_at, new.updated_at),
        }
    changes["last_position"] = new.last_position
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[messages.c.idempotency_key],
            set_=changes,
            where=messages.c.last_position < new.last_position,
        )
    )


PROJECTION = Projection(
    name="messages",
    table=messages,
    event_types=frozenset(
        {"message.sent", "message.suppressed", "message.delivered", "message.failed", "customer.erased"}
    ),
    apply=apply,
)
