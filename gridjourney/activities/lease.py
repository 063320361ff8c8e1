"""Keeping a send's ledger row owned while its attempt works: heartbeat and renew the lease."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import ledger
from gridjourney.outages import outage

log = logging.getLogger(__name__)
Heartbeat = Callable[[], None]


@contextlib.asynccontextmanager
async def kept_alive(
    engine: AsyncEngine,
    key: str,
    token: str,
    lease: timedelta,
    every: timedelta,
    heartbeat: Heartbeat | None,
) -> AsyncIterator[None]:
    """Every `every`: heartbeat (Temporal then knows the attempt lives) and renew the row's lease.
    Stops by itself once the row is no longer this attempt's to renew."""

    async def keep() -> None:
        while True:
            if heartbeat is not None:
                heartbeat()
            await asyncio.sleep(every.total_seconds())
            try:
                async with engine.begin() as conn:
                    if not await ledger.renew(conn, key, token, lease):
                        return  # recorded, released or lost: nothing left to keep
            except Exception as error:
                if outage(error) != "database":
                    raise
                log.warning("%s: cannot renew the send's lease (%s)", key, error)

    keeper = asyncio.create_task(keep(), name=f"lease {key}")
    try:
        yield
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
