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

A batch of events is folded with one statement per round (apply_many): the statement takes the
events as parallel arrays, each row carrying its own stage rules, and a round holds at most one event
per message, so that the rows of one message are still folded one event after the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, DateTime, String, Text, bindparam, case, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
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


def _field(message: MessageBase, name: str, default: Any = None) -> Any:
    """A field that only some message types have. Their payloads forbid extra keys, so the fields are
    all in the model's __dict__: reading it is ~40x cheaper than getattr's miss on a pydantic model
    (which raises and catches AttributeError), and the fold reads four per event."""
    return message.__dict__.get(name, default)


def reason_of(status: str, message: MessageBase) -> str | None:
    """The row's reason: what the event says, with the provider's error code or bounce type."""
    reason: str | None = _field(message, "reason")
    if status == "bounced":
        kind = f"{_field(message, 'bounce_type', 'hard')} bounce"
        return f"{kind}: {reason}" if reason else kind
    error_code = _field(message, "error_code")
    if error_code and not reason:
        return f"error {error_code}"
    if error_code and reason and error_code not in reason:
        return f"{reason} (error {error_code})"
    return reason


# --- the fold of message events: one row per event, one statement per round --------------------------
_TEXT_COLUMNS = (
    "idempotency_key",
    *DESCRIPTIVE,
    "status",
    "reason",
    "provider_message_id",
)
_TYPES: dict[str, Any] = {
    **dict.fromkeys(_TEXT_COLUMNS, ARRAY(Text)),
    "deferred_until": ARRAY(DateTime(timezone=True)),
    "occurred_at": ARRAY(DateTime(timezone=True)),
    "last_position": ARRAY(BigInteger),
}
_NEW = (
    func.unnest(*(bindparam(column, type_=array) for column, array in _TYPES.items()))
    .table_valued(*_TYPES)
    .render_derived(name="new")
)
_INSERT = insert(messages).from_select(
    [*_TYPES, "updated_at"], select(*(_NEW.c[column] for column in _TYPES), _NEW.c.occurred_at)
)


def _stage(status: Any) -> Any:
    return case(STAGES, value=status, else_=0)


def _fold() -> Any:
    """The upsert of one event's row onto the message's row, its rules chosen by the event's status."""
    new = _INSERT.excluded
    moves = _stage(messages.c.status) <= _stage(new.status)
    # What the send recorded describes the message best, and says when it was sent; a report only
    # fills gaps.
    decision = new.status.in_(sorted(SEND_DECISIONS))

    def described(column: str) -> Any:
        return case(
            (decision, func.coalesce(new[column], messages.c[column])),
            else_=func.coalesce(messages.c[column], new[column]),
        )

    changes: dict[str, Any] = {
        "status": case((moves, new.status), else_=messages.c.status),
        "reason": case((moves, new.reason), else_=messages.c.reason),
        "deferred_until": case((moves, new.deferred_until), else_=messages.c.deferred_until),
        "updated_at": func.greatest(messages.c.updated_at, new.updated_at),
        "last_position": new.last_position,
        **{column: described(column) for column in DESCRIPTIVE},
        "provider_message_id": case(
            (decision, func.coalesce(messages.c.provider_message_id, new.provider_message_id)),
            else_=func.coalesce(new.provider_message_id, messages.c.provider_message_id),
        ),
        "occurred_at": case((decision, new.occurred_at), else_=messages.c.occurred_at),
    }
    return _INSERT.on_conflict_do_update(
        index_elements=[messages.c.idempotency_key],
        set_=changes,
        where=messages.c.last_position < new.last_position,
    )


_FOLD = _fold()
_CLEAR_REASONS = (
    update(messages)
    .where(
        messages.c.customer_id == bindparam("erased", type_=String),
        messages.c.status.in_(PROVIDER_REASONS),
    )
    .values(reason=None)
)


def _row(event: StoredEvent) -> dict[str, Any]:
    message = EVENT_TYPES[event.type].model_validate(event.payload)
    assert isinstance(message, MessageBase)
    status = event.type.removeprefix("message.")
    return {
        "idempotency_key": message.idempotency_key,
        "customer_id": event.customer_id,
        "journey_id": message.journey_id,
        "instance_id": message.instance_id,
        "step_id": message.step_id,
        "channel": message.channel,
        "template": message.template,
        "locale": message.locale,
        "status": status,
        "reason": reason_of(status, message),
        "provider_message_id": _field(message, "provider_message_id"),
        "deferred_until": _field(message, "until"),
        "occurred_at": event.occurred_at,
        "last_position": event.position,
    }


async def _fold_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """The rows in log order, in rounds: the k-th event of every message in the k-th statement."""
    rounds: list[list[dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for row in rows:
        k = seen.get(row["idempotency_key"], 0)
        seen[row["idempotency_key"]] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(row)
    for round_rows in rounds:
        await conn.execute(_FOLD, {column: [row[column] for row in round_rows] for column in _TYPES})


async def apply_many(conn: AsyncConnection, batch: Sequence[StoredEvent]) -> None:
    """Fold `batch` (in log order) as event by event, in a few statements. An erasure clears what
    the message events before it wrote and nothing after it: the rows are folded up to it first."""
    rows: list[dict[str, Any]] = []
    for event in batch:
        if event.type == "customer.erased":
            await _fold_rows(conn, rows)
            rows = []
            await conn.execute(_CLEAR_REASONS, {"erased": event.customer_id})
        else:
            rows.append(_row(event))
    await _fold_rows(conn, rows)


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    await apply_many(conn, [event])


PROJECTION = Projection(
    name="messages",
    table=messages,
    event_types=frozenset({*(f"message.{status}" for status in STAGES), "customer.erased"}),
    apply=apply,
    apply_many=apply_many,
)
