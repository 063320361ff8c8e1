"""A failed batch, event by event: the events that still fail are set aside as dead letters
(events/dead_letters.py) so that they stop nothing else."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.events import dead_letters
from gridjourney.events.failures import describe, is_transient
from gridjourney.events.models import StoredEvent

log = logging.getLogger(__name__)

TransactionalHandler = Callable[[AsyncConnection, list[StoredEvent]], Awaitable[None]]

DEFAULT_ATTEMPTS = 3
"""Tries per event, once its batch has failed, before the event is set aside."""


async def handle_isolating_failures(
    conn: AsyncConnection,
    name: str,
    batch: list[StoredEvent],
    handler: TransactionalHandler,
    *,
    attempts: int = DEFAULT_ATTEMPTS,
) -> int:
    """Apply `batch` through `handler` inside the caller's transaction, setting aside each event whose
    handling fails `attempts` times; return how many were set aside.

    Every try runs in a savepoint, so a failed event leaves none of its writes behind, and its dead
    letter commits with the caller's checkpoint. Transient errors are raised (nothing is set aside).
    """
    try:
        async with conn.begin_nested():
            await handler(conn, batch)
        return 0
    except Exception as error:
        if is_transient(error):
            raise
        log.warning(
            "subscription %s: batch %d-%d failed (%s); handling its events one by one",
            name,
            batch[0].position,
            batch[-1].position,
            describe(error),
        )
    aside = 0
    for event in batch:
        failure: Exception | None = None
        for _ in range(attempts):
            try:
                async with conn.begin_nested():
                    await handler(conn, [event])
            except Exception as error:
                if is_transient(error):
                    raise
                failure = error
            else:
                failure = None
                break
        if failure is not None:
            await set_aside(conn, name, event, failure, attempts)
            aside += 1
    return aside


async def set_aside(
    conn: AsyncConnection, name: str, event: StoredEvent, error: Exception, attempts: int
) -> None:
    description = describe(error)
    await dead_letters.record(conn, name, event, description, attempts)
    log.error(
        "subscription %s: event %d (%s) failed %d times (%s); set aside as a dead letter",
        name,
        event.position,
        event.type,
        attempts,
        description,
    )


class RetryReport(BaseModel):
    """What `Subscription.retry_dead_letters` did."""

    retried: int
    succeeded: int
    failed: int
