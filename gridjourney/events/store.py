"""The append-only event store in Postgres.

Appends are serialized by a transaction-scoped advisory lock, so positions become visible in the
order they were assigned: a reader that remembers the last position it saw can never skip an event
committed late by a concurrent writer. Appends are idempotent on `event_id`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.db.tables import events
from gridjourney.events.models import AppendResult, NewEvent, StoredEvent
from gridjourney.events.types import validate_payload

# Arbitrary constant naming the "event log append" lock; NOTIFY channel woken on every commit.
APPEND_LOCK_KEY = 0x6A6F75726E6579
NOTIFY_CHANNEL = "gridjourney_events"


class EventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def append(self, new_events: Sequence[NewEvent]) -> list[AppendResult]:
        """Validate every payload, then append all events in one transaction (all or nothing).

        Raises UnknownEventType or pydantic.ValidationError before anything is written.
        """
        rows = _rows(new_events)
        if not rows:
            return []
        async with self.engine.begin() as conn:
            return await self._append_rows(conn, rows)

    async def append_in(self, conn: AsyncConnection, new_events: Sequence[NewEvent]) -> list[AppendResult]:
        """Append inside the caller's transaction on `conn`, so the events commit (or roll back) with the
        caller's own writes. The append lock is held until that transaction ends: keep it short."""
        rows = _rows(new_events)
        return await self._append_rows(conn, rows) if rows else []

    async def _append_rows(self, conn: AsyncConnection, rows: list[dict[str, object]]) -> list[AppendResult]:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
        ids = [row["event_id"] for row in rows]
        existing = dict(
            (
                await conn.execute(
                    select(events.c.event_id, events.c.position).where(events.c.event_id.in_(ids))
                )
            )
            .tuples()
            .all()
        )
        results: dict[uuid.UUID, AppendResult] = {
            event_id: AppendResult(event_id=event_id, position=position, duplicate=True)
            for event_id, position in existing.items()
        }
        fresh: list[dict[str, object]] = []
        for row in rows:
            event_id = row["event_id"]
            assert isinstance(event_id, uuid.UUID)
            if event_id not in results:
                results[event_id] = AppendResult(event_id=event_id, position=-1, duplicate=False)
                fresh.append(row)
        if fresh:
            inserted = await conn.execute(
                insert(events).values(fresh).returning(events.c.event_id, events.c.position)
            )
            for event_id, position in inserted.tuples():
                results[event_id] = AppendResult(event_id=event_id, position=position, duplicate=False)
            await conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
        out: list[AppendResult] = []
        for row in rows:
            event_id = row["event_id"]
            assert isinstance(event_id, uuid.UUID)
            result = results[event_id]
            # An event repeated inside one batch: the first copy wrote it, the later ones are duplicates.
            out.append(result if result not in out else result.model_copy(update={"duplicate": True}))
        return out

    async def read_after(self, position: int, limit: int = 500) -> list[StoredEvent]:
        """Events with a position greater than `position`, in order."""
        query = select(events).where(events.c.position > position).order_by(events.c.position).limit(limit)
        async with self.engine.connect() as conn:
            return [StoredEvent.model_validate(row._mapping) for row in await conn.execute(query)]

    async def read_customer(self, customer_id: str, limit: int = 1000) -> list[StoredEvent]:
        query = (
            select(events).where(events.c.customer_id == customer_id).order_by(events.c.position).limit(limit)
        )
        async with self.engine.connect() as conn:
            return [StoredEvent.model_validate(row._mapping) for row in await conn.execute(query)]

    async def get(self, event_id: uuid.UUID) -> StoredEvent | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(events).where(events.c.event_id == event_id))).first()
        return None if row is None else StoredEvent.model_validate(row._mapping)

    async def head(self) -> int:
        """The position of the newest event (0 when the log is empty)."""
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.coalesce(func.max(events.c.position), 0)))).scalar_one()
            )


def _rows(new_events: Sequence[NewEvent]) -> list[dict[str, object]]:
    """The rows to insert, every payload validated first (nothing is written if one is refused)."""
    return [
        {
            "event_id": event.event_id,
            "type": event.type,
            "customer_id": event.customer_id,
            "occurred_at": event.occurred_at,
            "source": event.source,
            "payload": validate_payload(event.type, event.payload),
            "schema_version": event.schema_version,
        }
        for event in new_events
    ]
