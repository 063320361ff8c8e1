"""Provider rate limits that hold across every worker: a token bucket per channel in Postgres.

`rate_limit_buckets` holds each bucket's tokens and when they were last counted. A take refills the
bucket from the time elapsed since then (at `rate` per second, up to `burst`) and takes what it may,
in one statement under the row lock, so any number of workers share one rate. Tokens are taken in
chunks (a few calls' worth) to keep the database out of the per-call path; a worker with an empty
bucket sleeps until the next chunk is due. A bucket starts empty, so a fresh run cannot burst.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gridjourney.config import Settings
from gridjourney.dsl.schema import Channel

# Refill, then take up to :want whole tokens; clock_timestamp(), not now(): the time of the take.
_TAKE = text(
    """
    WITH bucket AS (
        SELECT name,
               LEAST(:burst, tokens + :rate * EXTRACT(EPOCH FROM clock_timestamp() - updated_at)) AS available
        FROM rate_limit_buckets WHERE name = :name FOR UPDATE
    )
    UPDATE rate_limit_buckets AS b
    SET tokens = bucket.available - LEAST(FLOOR(bucket.available), :want),
        updated_at = clock_timestamp()
    FROM bucket WHERE b.name = bucket.name
    RETURNING LEAST(FLOOR(bucket.available), :want)::int AS granted, bucket.available AS available
    """
)
_CREATE = text(
    "INSERT INTO rate_limit_buckets (name, tokens, updated_at) VALUES (:name, 0, clock_timestamp()) "
    "ON CONFLICT (name) DO NOTHING"
)


async def create(conn: AsyncConnection, name: str) -> None:
    """The bucket, empty, unless it exists."""
    await conn.execute(_CREATE, {"name": name})


async def take(conn: AsyncConnection, name: str, rate: float, burst: float, want: int) -> tuple[int, float]:
    """(tokens granted, 0..want; tokens that were available before the take). None exist before
    `create`."""
    row = (await conn.execute(_TAKE, {"name": name, "rate": rate, "burst": burst, "want": want})).one()
    return int(row.granted), float(row.available)


@dataclass
class TokenBucket:
    """One channel's shared bucket as seen by one sender: `await acquire()` before each provider call.

    `chunk`: tokens taken per take (default: 1/20 of a second's worth, at least 1: few enough
    database round trips, calls spread finely enough for the achieved rate to match the configured
    one)."""

    engine: AsyncEngine
    name: str
    rate: float
    chunk: int = 0

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"rate limit {self.name}: the rate must be positive, not {self.rate}")
        self.chunk = self.chunk or max(1, math.floor(self.rate / 20))
        self._created = False
        self._held = 0
        self._lock = asyncio.Lock()

    async def acquire(self, count: int = 1) -> None:
        """Wait until `count` calls (email: recipients) may go out."""
        # The bucket holds up to a second's worth (or one take): tokens that refill while a loaded
        # worker sleeps or queries are kept, not capped away. It starts empty, so no run starts
        # with a burst.
        burst = max(self.chunk, count, self.rate)
        async with self._lock:
            while self._held < count:
                want = max(self.chunk, count) - self._held
                async with self.engine.begin() as conn:
                    if not self._created:
                        await create(conn, self.name)
                        self._created = True
                    granted, available = await take(conn, self.name, self.rate, burst, want)
                self._held += granted
                if granted < want:
                    await asyncio.sleep((want - available) / self.rate)
            self._held -= count


def channel_rates(settings: Settings) -> dict[Channel, float]:
    """The configured provider rates per second; a channel without one has no limit."""
    rates: dict[Channel, float | None] = {
        "sms": settings.sms_rate_per_second,
        "email": settings.email_rate_per_second,
        "push": settings.push_rate_per_second,
    }
    return {channel: rate for channel, rate in rates.items() if rate is not None}


def buckets_from_settings(engine: AsyncEngine, settings: Settings) -> dict[Channel, TokenBucket]:
    return {
        channel: TokenBucket(engine, f"send:{channel}", rate)
        for channel, rate in channel_rates(settings).items()
    }
