"""The customers projection: customer.created and customer.updated, attributes merged; customer.erased.

An attribute set to null by an event is removed, so a journey's `update` step can clear one.
Profile and grid fields (premise, transformer, feeder) absent (null) from customer.updated keep their
value. The personal fields of an erased
customer read null from the store (gridjourney/privacy/fields.py), so a rebuild stores none, and
customer.erased clears them and the free-form attributes (which the log keeps unsealed: a rebuild
folds them, and the erasure clears them again) from the row and marks it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import String, func, literal
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from gridjourney.db.tables import customers
from gridjourney.events.models import StoredEvent
from gridjourney.events.types import CustomerCreated, CustomerUpdated
from gridjourney.projections.model import Projection

log = logging.getLogger(__name__)

PROFILE_FIELDS = ("name", "phone", "email", "locale", "time_zone")
# Where the customer is supplied (cohort audiences and outages select by these); not personal data,
# so an erased customer keeps them.
GRID_FIELDS = ("premise_id", "transformer_id", "feeder_id")


def _split_attributes(attributes: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(attributes to set, keys to remove)."""
    kept = {key: value for key, value in attributes.items() if value is not None}
    return kept, [key for key, value in attributes.items() if value is None]


def _merged(current: ColumnElement[Any], attributes: dict[str, Any]) -> ColumnElement[Any]:
    kept, removed = _split_attributes(attributes)
    merged = current.op("||")(literal(kept, JSONB))
    return merged.op("-")(literal(removed, ARRAY(String))) if removed else merged


PERSONAL_FIELDS = ("name", "phone", "email")


async def _erase(conn: AsyncConnection, customer_id: str, event: StoredEvent) -> None:
    statement = insert(customers).values(
        customer_id=customer_id,
        erased_at=event.occurred_at,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        last_position=event.position,
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[customers.c.customer_id],
            set_={field: None for field in PERSONAL_FIELDS}
            | {
                "attributes": literal({}, JSONB),
                "erased_at": statement.excluded.erased_at,
                "updated_at": statement.excluded.updated_at,
                "last_position": statement.excluded.last_position,
            },
            where=customers.c.last_position < statement.excluded.last_position,
        )
    )


async def apply(conn: AsyncConnection, event: StoredEvent) -> None:
    if event.customer_id is None:
        log.warning("customers: %s at %d names no customer; ignored", event.type, event.position)
        return
    if event.type == "customer.erased":
        await _erase(conn, event.customer_id, event)
        return
    if event.type == "customer.created":
        created = CustomerCreated.model_validate(event.payload)
        fields: dict[str, Any] = {field: getattr(created, field) for field in PROFILE_FIELDS + GRID_FIELDS}
        attributes = created.attributes
    else:
        updated = CustomerUpdated.model_validate(event.payload)
        fields = {field: getattr(updated, field) for field in PROFILE_FIELDS + GRID_FIELDS}
        attributes = updated.attributes
    row = {
        "customer_id": event.customer_id,
        **{field: value for field, value in fields.items() if value is not None},
        "attributes": _split_attributes(attributes)[0],
        "created_at": event.occurred_at,
        "updated_at": event.occurred_at,
        "last_position": event.position,
    }
    statement = insert(customers).values(row)
    changes: dict[str, Any] = {
        # customer.created states the whole profile; customer.updated only what it names.
        field: literal(value, customers.c[field].type)
        if event.type == "customer.created"
        else func.coalesce(literal(value, customers.c[field].type), customers.c[field])
        for field, value in fields.items()
    }
    changes |= {
        "attributes": _merged(customers.c.attributes, attributes),
        "created_at": func.least(customers.c.created_at, statement.excluded.created_at),
        "updated_at": statement.excluded.updated_at,
        "last_position": statement.excluded.last_position,
    }
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[customers.c.customer_id],
            set_=changes,
            where=customers.c.last_position < statement.excluded.last_position,
        )
    )


PROJECTION = Projection(
    name="customers",
    table=customers,
    event_types=frozenset({"customer.created", "customer.updated", "customer.erased"}),
    apply=apply,
)
