"""The messages projection: one row per idempotency key, at the furthest status its events reached.

A message goes forward through stages: deferred (quiet hours; `deferred_until` says when it is asked
for again) → sent or suppressed (the send's own decision) → what the provider reported (delivered,
undelivered, bounced, dropped, failed; `message.failed` is also a send given up) → what the recipient
did (opened, clicked, spam_reported). An event moves the row to its status unless the row is already
at a later stage: reports may be recorded before the send they report on (a fast webhook racing the
send activity's record), and engagement before delivery (SendGrid does not order its events), so
each event creates the row if it is missing, and a late "sent" never downgrades a final status.
Within one stage the later event wins (a deferral suppressed after the night, a delivered email that
bounced later). `message.received` (an inbound reply) is no message of ours: not folded here.

customer.erased clears the provider's reasons of the customer's messages (a provider's error can
quote the number or the address): a reason read before the erasure and folded after it is cleared by
the erasure's own event, which comes later in the log.
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

# status → stage; a row never moves to an earlier stage
STAGES: dict[str, int] = {
    "deferred": 0,
    "sent": 1,
    "suppressed": 1,
    "delivered": 2,
    "undelivered": 2,
    "bounced": 2,
    "dropped": 2,
    "failed": 2,
    "opened": 3,
    "clicked": 4,
    "spam_reported": 5,
}
SEND_DECISIONS = frozenset(status for status, stage in STAGES.items() if stage <= 1)
PROVIDER_REASONS = ("failed", "undelivered", "bounced", "dropped")  # cleared on erasure
DESCRIPTIVE = ("customer_id", "journey_id", "instance_id", "step_id", "channel", "template", "locale")


def reason_of(status: str, message: MessageBase) -> str | None:
    """The row's reason: what the event says, with the provider's error code or bounce type."""
    reason: str | None = getattr(message, "reason", None)
    if status == "bounced":
        kind = f"{getattr(message, 'bounce_type', 'hard')} bounce"
        return f"{kind}: {reason}" if reason else kind
    error_code = getattr(message, "error_code", None)
    if error_code and not reason:
        return f"error {error_code}"
    if error_code and reason and error_code not in reason:
        return f"{reason} (error {error_code})"
    return reason


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    if event.type == "customer.erased":
        await conn.execute(
            update(messages)
            .where(messages.c.customer_id == event.customer_id, messages.c.status.in_(PROVIDER_REASONS))
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
        reason=reason_of(status, message),
        deferred_until=getattr(message, "until", None),
        provider_message_id=getattr(message, "provider_message_id", None),
        occurred_at=event.occurred_at,
        updated_at=event.occurred_at,
        last_position=event.position,
    )
    new = statement.excluded
    current_stage = case(STAGES, value=messages.c.status, else_=0)
    moves = current_stage <= STAGES[status]
    changes: dict[str, Any] = {
        "status": case((moves, new.status), else_=messages.c.status),
        "reason": case((moves, new.reason), else_=messages.c.reason),
        "deferred_until": case((moves, new.deferred_until), else_=messages.c.deferred_until),
        "updated_at": func.greatest(messages.c.updated_at, new.updated_at),
        "last_position": new.last_position,
    }
    if status in SEND_DECISIONS:
        # What the send recorded describes the message best, and says when it was sent.
        changes |= {
            **{column: func.coalesce(new[column], messages.c[column]) for column in DESCRIPTIVE},
            "provider_message_id": func.coalesce(messages.c.provider_message_id, new.provider_message_id),
            "occurred_at": new.occurred_at,
        }
    else:
        # A report only fills gaps.
        changes |= {
            **{column: func.coalesce(messages.c[column], new[column]) for column in DESCRIPTIVE},
            "provider_message_id": func.coalesce(new.provider_message_id, messages.c.provider_message_id),
        }
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
    event_types=frozenset({*(f"message.{status}" for status in STAGES), "customer.erased"}),
    apply=apply,
)
