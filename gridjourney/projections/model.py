"""What every projection module provides: the table it owns, the event types it folds, its fold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.events.models import StoredEvent

Apply = Callable[[AsyncConnection, StoredEvent], Awaitable[None]]
ApplyMany = Callable[[AsyncConnection, Sequence[StoredEvent]], Awaitable[None]]


@dataclass(frozen=True)
class Projection:
    """A fold over the log into one table.

    `apply` must be idempotent and order-respecting: every row notes the position of the last event
    applied to it (`last_position`), and an event at or below it changes nothing. Replaying any
    prefix of the log therefore leaves the table as it was.

    `apply_many`, when given, folds several events (in log order) exactly as `apply` one by one
    would; the runner then hands it all the events of a batch at once (projections/runner.py).
    """

    name: str
    table: Table
    event_types: frozenset[str]
    apply: Apply
    apply_many: ApplyMany | None = None
