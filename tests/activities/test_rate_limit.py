"""The shared provider rate limit (activities/rate_limit.py) against real Postgres and the Twilio
stand-in: two workers, each with its own engine, share one bucket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.rate_limit import TokenBucket
from gridjourney.activities.rate_limit_queries import create, take
from gridjourney.channels.base import OutgoingMessage
from gridjourney.channels.bulk import ProviderCalls
from gridjourney.channels.sms import TwilioSmsSender
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.db.engine import create_engine
from tests.activities.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from tests.activities.tcp_proxy import TcpProxy


def sms(worker: int, n: int) -> OutgoingMessage:
    return OutgoingMessage(
        idempotency_key=f"w{worker}:{n}", channel="sms", recipient=f"+1503{worker}{n:06d}", body="Peak event"
    )


async def worker(database_url: str, standin: TwilioStandIn, number: int, count: int) -> None:
    """One send worker: its own engine, sender and view of the shared bucket."""
    engine = create_engine(database_url)
    sender = TwilioSmsSender(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM_NUMBER, base_url=standin.base_url
    )
    try:
        bucket = TokenBucket(engine, "send:sms", 100.0)
        calls = ProviderCalls({"sms": sender}, throttles={"sms": bucket}, concurrency={"sms": 32})
        answers = await calls.send([sms(number, n) for n in range(count)])
        assert all(not isinstance(answer, Exception) for answer in answers)
    finally:
        await sender.close()
        await engine.dispose()


async def test_two_workers_under_100_per_second_achieve_100_per_second(
    database_url: str, standin: TwilioStandIn
) -> None:
    started = datetime.now(UTC)  # before the bucket exists: it starts empty and fills at 100/s
    await asyncio.gather(worker(database_url, standin, 1, 250), worker(database_url, standin, 2, 250))

    times = sorted(m.received_at for m in standin.received)
    assert len(times) == 500
    span = (times[-1] - times[0]).total_seconds()
    rate = (len(times) - 1) / span  # messages over the measured span, as the provider saw them
    assert rate >= 95, f"{rate:.1f} messages/s: the workers fall short of the limit"
    # Never more than the rate since the bucket began. Measured from the first message instead, a
    # loaded machine that stalls the start lets the bucket keep its second's worth and send it at once
    # (by design), which read as 107/s.
    since_start = len(times) / (times[-1] - started).total_seconds()
    assert since_start <= 101, f"{since_start:.1f} messages/s since the bucket began"
    assert {m.to[5] for m in standin.received} == {"1", "2"}  # both workers sent


async def test_a_take_refills_from_the_elapsed_time_and_never_grants_more_than_asked(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await create(conn, "send:email")
        granted, available = await take(conn, "send:email", 10.0, 5.0, 3)
    assert granted == 0 and available < 1  # a new bucket starts empty (a few µs of refill)
    await asyncio.sleep(0.6)  # 6 tokens' worth at 10/s, capped at the burst of 5
    async with engine.begin() as conn:
        granted, available = await take(conn, "send:email", 10.0, 5.0, 3)
    assert (granted, available) == (3, 5.0)
    async with engine.begin() as conn:
        granted, available = await take(conn, "send:email", 10.0, 5.0, 3)
    assert granted == 2 and 2 <= available < 3


class CutAtTake(TcpProxy):
    """Drops every connection the moment a client sends the take (the bucket's UPDATE), once: the
    transaction that created the bucket in the same round is rolled back by the server."""

    def __init__(self, target_socket: str) -> None:
        super().__init__(target_socket)
        self.armed = True

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_unix_connection(self.target_socket)
        self._writers |= {client_writer, server_writer}
        await asyncio.gather(
            self._watch(client_reader, server_writer), self._pipe(server_reader, client_writer)
        )

    async def _watch(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if self.armed and b"UPDATE rate_limit_buckets" in data:
                self.armed = False
                self.cut()
                self.restore()
                return
            writer.write(data)
            await writer.drain()
        writer.close()


@pytest.fixture
async def cut_at_take(database_url: str) -> AsyncIterator[str]:
    """A database URL through a CutAtTake proxy (the test server listens on a Unix socket only)."""
    parts = urlsplit(database_url)
    socket_dir = parse_qs(parts.query)["host"][0]
    proxy = CutAtTake(f"{socket_dir}/.s.PGSQL.{parts.port or 5432}")
    await proxy.start()
    yield urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}", query=""))
    await proxy.stop()


async def test_a_bucket_whose_create_was_rolled_back_is_created_again(cut_at_take: str) -> None:
    engine = create_engine(cut_at_take)
    try:
        bucket = TokenBucket(engine, "send:push", 1000.0)
        with pytest.raises(DBAPIError):
            await bucket.acquire()
        # The create went with the failed transaction: the next take must make it again, not fail
        # for the life of the process on a bucket that does not exist.
        await asyncio.wait_for(bucket.acquire(), 10)
        async with engine.connect() as conn:
            granted, _ = await take(conn, "send:push", 1000.0, 1000.0, 0)
        assert granted == 0
    finally:
        await engine.dispose()
