"""The Temporal part of an erasure, recorded until it is done (table temporal_erasures).

An erasure in the database (erasure.py) writes a pending row in its own transaction, so the part
that follows it (deleting the customer's workflow executions: workflow_erasure.py) is tracked even
if the process dies in between. `finish` makes one attempt and records it: failed, with its error and the
time of the next attempt (30 s after the first failure, doubling up to an hour); or executions
deleted, to be checked VERIFY_AFTER later; or completed: a listing made VERIFY_AFTER after the
erasure and after any deletion found none of the customer's executions left.
`retry_forever` runs beside the router's leader (stack.py RouterSide): one process retries however
many routers run, and a failure of the retry never stops routing. Operators see them with `gridjourney
privacy pending` (`--retry` finishes them now) and the metrics gridjourney_erasures_pending and
gridjourney_erasures_completed_total (observability/database.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.events.failures import describe
from gridjourney.privacy import queries
from gridjourney.privacy.workflow_erasure import delete_customer_workflows

log = logging.getLogger(__name__)

FIRST_DELAY = timedelta(seconds=30)
# A listing is trusted to show every execution this long after the erasure or a deletion: Temporal
# deletes asynchronously and its visibility store lags (a journey started just before the erasure may
# not be listed yet), so completion is a listing that finds none left, made this long after both.
VERIFY_AFTER = timedelta(seconds=30)
LONGEST_DELAY = timedelta(hours=1)
RETRY_INTERVAL = timedelta(seconds=30)  # how often the retrier looks for pending parts that are due
NO_CLIENT = "Temporal unreachable: no connection"
_UNREACHABLE_STATUSES = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)


@dataclass(frozen=True)
class TemporalPart:
    """One attempt: `deleted` executions (None: it failed, for `error`); `completed`: none was left
    (else a later attempt checks)."""

    customer_id: str
    deleted: int | None
    error: str | None = None
    unreachable: bool = False  # the error was Temporal being down or not answering
    completed: bool = False


def unreachable(error: BaseException) -> bool:
    """Temporal down or not answering (the SDK raises RuntimeError when it cannot connect): an
    expected state, logged in one line, unlike a failure of the deletion itself."""
    if isinstance(error, RPCError):
        return error.status in _UNREACHABLE_STATUSES
    return isinstance(error, RuntimeError | OSError | TimeoutError)


async def finish(
    engine: AsyncEngine, client: Client | None, customer_id: str, erased_at: datetime
) -> TemporalPart:
    """Delete the erased customer's workflow executions (client None: Temporal could not be
    connected to) and record the outcome."""
    try:
        if client is None:
            raise ConnectionError(NO_CLIENT)
        deleted = await delete_customer_workflows(client, customer_id)
    except Exception as error:
        text = NO_CLIENT if client is None else describe(error)
        outage = client is None or unreachable(error)
        # an outage is its one line (NO_CLIENT already says "Temporal unreachable"); else a traceback
        why = f"Temporal unreachable ({text})" if outage and client is not None else text
        if outage:
            log.warning("erasure: Temporal part pending for customer %s: %s", customer_id, why)
        else:
            log.warning("erasure: Temporal part pending for customer %s: %s", customer_id, why, exc_info=True)
        async with engine.begin() as conn:
            await queries.record_failed(
                conn,
                customer_id,
                erased_at,
                text,
                datetime.now(UTC),
                first_delay=FIRST_DELAY,
                longest_delay=LONGEST_DELAY,
            )
        return TemporalPart(customer_id, None, text, unreachable=outage)
    now = datetime.now(UTC)
    verify_from = erased_at + VERIFY_AFTER
    completed = deleted == 0 and now >= verify_from  # none left, by a listing late enough to trust
    again = None  # completed
    if not completed:  # checked again once Temporal's deletions and its visibility store have caught up
        again = max(now + VERIFY_AFTER, verify_from) if deleted else verify_from
    async with engine.begin() as conn:
        await queries.record_listing(conn, customer_id, erased_at, deleted, now, check_again_at=again)
    if completed:
        log.info("erasure: Temporal part of customer %s completed: no execution of theirs left", customer_id)
    elif deleted:
        log.info("erasure: %d executions of customer %s deleted in Temporal", deleted, customer_id)
    return TemporalPart(customer_id, deleted, completed=completed)


async def retry_pending(
    engine: AsyncEngine, client: Client | None, *, due_only: bool = True, limit: int = 100
) -> list[TemporalPart]:
    """One attempt for each pending part (due_only: those whose next attempt is due), the most
    overdue first. Temporal unreachable: the others wait (each would wait out the same timeout)."""
    async with engine.connect() as conn:
        found = await queries.pending(conn, due_at=datetime.now(UTC) if due_only else None, limit=limit)
    attempts: list[TemporalPart] = []
    for row in found:
        attempt = await finish(engine, client, row.customer_id, row.erased_at)
        attempts.append(attempt)
        if attempt.unreachable:
            break
    return attempts


async def retry_forever(
    engine: AsyncEngine, client: Client, stop: asyncio.Event, *, interval: timedelta | None = None
) -> None:
    """Retry the due pending parts every `interval` until `stop`. Never raises: a database or Temporal
    outage is logged and tried again next time (the process's own work does not depend on this).
    `interval` None: RETRY_INTERVAL."""
    wait = (interval or RETRY_INTERVAL).total_seconds()
    while not stop.is_set():
        try:
            await retry_pending(engine, client)
        except Exception as error:
            log.warning("erasure: pending Temporal parts not retried this time (%s)", describe(error))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
