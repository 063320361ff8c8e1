"""The router election against a real Postgres: one leader at a time; a standby takes over when the
leader's connection dies (as when its process is killed) or when it stops; a leader that loses its
connection stops its work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg

from gridjourney.db.engine import libpq_url
from gridjourney.router.leader import LeaderElection


class Candidate:
    """An elector whose leader work records when it runs."""

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.election = LeaderElection(url, retry_interval=0.2, probe_timeout=1.0)
        self.working = asyncio.Event()
        self.resigned = asyncio.Event()
        self.stop = asyncio.Event()

    async def lead(self, resign: asyncio.Event) -> None:
        self.working.set()
        self.resigned.clear()
        await resign.wait()
        self.working.clear()
        self.resigned.set()


@asynccontextmanager
async def campaigning(*candidates: Candidate) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(c.election.run(c.stop, c.lead)) for c in candidates]
    try:
        yield
    finally:
        for candidate in candidates:
            candidate.stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)


async def first_to_work(*candidates: Candidate, timeout: float = 10.0) -> Candidate:
    waits = {asyncio.ensure_future(c.working.wait()): c for c in candidates}
    done, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    assert done, "nobody took the lead"
    return waits[next(iter(done))]


async def test_one_leads_and_a_standby_takes_over_when_the_leaders_connection_dies(
    database_url: str,
) -> None:
    url = libpq_url(database_url)
    first, second = Candidate(url, "first"), Candidate(url, "second")
    async with campaigning(first, second):
        leader = await first_to_work(first, second)
        standby = second if leader is first else first
        await asyncio.sleep(1.0)  # several election rounds: the standby must stay a standby
        assert leader.working.is_set() and not standby.working.is_set()
        assert (leader.election.terms, standby.election.terms) == (1, 0)

        # What SIGKILL of the leader's process does to its lock: the server ends the session.
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (leader.election.backend_pid,))

        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        assert await first_to_work(standby) is standby
        assert loop.time() - killed_at < 10
        # The old leader noticed and stopped its work; it stands by now.
        await asyncio.wait_for(leader.resigned.wait(), timeout=10)
        assert not leader.working.is_set()


async def test_a_leader_that_stops_hands_over_at_once(database_url: str) -> None:
    url = libpq_url(database_url)
    first, second = Candidate(url, "first"), Candidate(url, "second")
    async with campaigning(first, second):
        leader = await first_to_work(first, second)
        standby = second if leader is first else first
        leader.stop.set()
        await asyncio.wait_for(leader.resigned.wait(), timeout=5)
        assert await first_to_work(standby, timeout=5) is standby
        assert not leader.election.leading.is_set() and standby.election.leading.is_set()
