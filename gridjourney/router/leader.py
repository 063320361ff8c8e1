"""Exactly one active router: leader election through a Postgres advisory lock.

Every `gridjourney router` process (and `gridjourney run`) runs an election. The one whose dedicated
connection holds `pg_try_advisory_lock(ROUTER_LOCK)` leads: it runs the projections and the router.
The others stand by and try again every `retry_interval` seconds. Postgres releases a session lock
when its connection ends, so a leader that is killed, or cut off from the database, loses the lock and
a standby takes over within a few seconds. The leader probes its connection every `retry_interval`
too: if the probe fails it steps down at once, since a standby may already hold the lock.

Advisory locks belong to one database, so separate databases (tests, tenants) elect separately.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg

from gridjourney.events.failures import describe

log = logging.getLogger(__name__)

ROUTER_LOCK = 0x67_6A_72_74  # "gjrt": any key, as long as nothing else in the database uses it
TRY_LOCK = "SELECT pg_try_advisory_lock(%s)"
UNLOCK = "SELECT pg_advisory_unlock(%s)"
PROBE = "SELECT 1"

Connection = psycopg.AsyncConnection[tuple[Any, ...]]

Lead = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""The leader's work: runs until the event it is given is set (stop, or the lock is lost)."""


class LeaderElection:
    def __init__(
        self,
        url: str,
        *,
        key: int = ROUTER_LOCK,
        retry_interval: float = 1.0,
        probe_timeout: float = 2.0,
        resign_grace: float = 5.0,
    ) -> None:
        """`url`: a libpq URL (postgresql://...) of the database whose lock is contended."""
        self.url = url
        self.key = key
        self.retry_interval = retry_interval
        self.probe_timeout = probe_timeout
        self.resign_grace = resign_grace
        self.leading = asyncio.Event()
        """Set while this elector leads."""
        self.terms = 0
        """How many times this elector has become the leader."""
        self.backend_pid: int | None = None
        """The server process of the lock connection (for operators and tests)."""

    async def run(self, stop: asyncio.Event, lead: Lead) -> None:
        """Take part in the election until `stop`; run `lead` whenever this elector is the leader."""
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=5)
            except (psycopg.Error, OSError) as error:
                log.warning("router election: cannot connect (%s); retrying", describe(error))
                await _wait(stop, self.retry_interval)
                continue
            self.backend_pid = conn.info.backend_pid
            try:
                if await self._acquire(conn, stop):
                    await self._lead(conn, stop, lead)
            except (psycopg.Error, OSError) as error:
                log.warning("router election: connection lost (%s); standing by", describe(error))
            finally:
                with contextlib.suppress(psycopg.Error, OSError):
                    await conn.close()
            await _wait(stop, self.retry_interval)

    async def _acquire(self, conn: Connection, stop: asyncio.Event) -> bool:
        """Try for the lock every `retry_interval` until it is ours (True) or `stop` (False)."""
        waiting_told = False
        while not stop.is_set():
            row = await (await conn.execute(TRY_LOCK, (self.key,))).fetchone()
            if row is not None and row[0] is True:
                return True
            if not waiting_told:
                log.info("router election: another process leads; standing by")
                waiting_told = True
            await _wait(stop, self.retry_interval)
        return False

    async def _lead(self, conn: Connection, stop: asyncio.Event, lead: Lead) -> None:
        resign = asyncio.Event()
        self.terms += 1
        self.leading.set()
        log.info("router election: this process leads (term %d)", self.terms)
        work: asyncio.Task[None] = asyncio.create_task(lead(resign), name="router-leader")
        lost = False
        try:
            while not stop.is_set() and not work.done():
                tick = asyncio.ensure_future(_wait(stop, self.retry_interval))
                await asyncio.wait({work, tick}, return_when=asyncio.FIRST_COMPLETED)
                tick.cancel()
                if stop.is_set() or work.done():
                    break
                try:
                    await asyncio.wait_for(conn.execute(PROBE), self.probe_timeout)
                except (psycopg.Error, OSError, TimeoutError) as error:
                    log.error("router election: lock connection lost (%s); stepping down", describe(error))
                    lost = True
                    break
        finally:
            resign.set()
            self.leading.clear()
            done, _ = await asyncio.wait({work}, timeout=self.resign_grace)
            if not done:
                work.cancel()
            results = await asyncio.gather(work, return_exceptions=True)
        if isinstance(results[0], Exception):
            log.error("router election: the leader's work failed (%s); stepping down", describe(results[0]))
        if not lost:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                await asyncio.wait_for(conn.execute(UNLOCK, (self.key,)), self.probe_timeout)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
