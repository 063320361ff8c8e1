"""Every SQL statement on `rate_limit_buckets` (the shared token buckets of activities/rate_limit.py)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

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
