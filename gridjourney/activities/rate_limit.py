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

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.rate_limit_queries import create, take
from gridjourney.config import Settings
from gridjourney.dsl.schema import Channel


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
                    granted, available = await take(conn, self.name, self.rate, burst, want)
                # Only once committed: a create rolled back with its take is made again next time.
                self._created = True
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
