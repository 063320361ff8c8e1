"""What every projection module provides: the table it owns, the event types it folds, its fold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.events.models import StoredEvent

Apply = Callable[[AsyncConnection, StoredEvent], Awaitable[None]]


@dataclass(frozen=True)
class Projection:
    """A fold over the log into one table.

    `apply` must be idempotent and order-respecting: every row notes the position of the last event
    applied to it (`last_position`), and an event at or below it changes nothing. Replaying any
    prefix of the log therefore leaves the table as it was.
    """

    name: str
    table: Table
    event_types: frozenset[str]
    apply: Apply
