"""The API's key cache: a key read once is trusted for `ttl` seconds, no longer; its secret and expiry are
still checked on every request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import create_key, list_keys, revoke_key, rotate_key
from gridjourney.api.key_cache import KeyCache


class Clock:
    """A clock the test moves by hand (monotonic or wall seconds)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_revoked_key_is_refused_once_the_cache_time_has_passed(engine: AsyncEngine) -> None:
    clock = Clock(100.0)
    cache = KeyCache(engine, ttl=5.0, clock=clock)
    key_id, key = await create_key(engine, "billing", ["events:write"])
    principal = await cache.authenticate(key)
    assert principal is not None and principal.key_id == key_id and principal.scopes == ["events:write"]
    assert await revoke_key(engine, key_id)
    clock.now += 4.9
    assert await cache.authenticate(key) is not None  # still trusted: read 4.9 s ago
    clock.now += 0.1
    assert await cache.authenticate(key) is None
    clock.now -= 5.0  # a refused key is not cached: it is read again, whatever the time
    assert await cache.authenticate(key) is None


async def test_a_wrong_secret_is_refused_while_the_key_is_cached(engine: AsyncEngine) -> None:
    cache = KeyCache(engine, ttl=60.0)
    _, key = await create_key(engine, "billing", ["events:write"])
    assert await cache.authenticate(key) is not None
    assert await cache.authenticate(key[:-2] + ("AA" if not key.endswith("AA") else "BB")) is None
    assert await cache.authenticate("gj_nonsense") is None
    assert await cache.authenticate(key) is not None


async def test_a_cached_key_is_refused_from_its_expiry_on(engine: AsyncEngine) -> None:
    wall = Clock(datetime.now(UTC).timestamp())
    cache = KeyCache(engine, ttl=60.0, wall_clock=wall)
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    _, key = await create_key(engine, "billing", ["events:write"], expires_at=expires_at)
    assert await cache.authenticate(key) is not None
    wall.now = expires_at.timestamp() - 1
    assert await cache.authenticate(key) is not None
    wall.now = expires_at.timestamp()
    assert await cache.authenticate(key) is None


async def test_a_rotated_key_ends_within_the_cache_time_and_its_successor_works_at_once(
    engine: AsyncEngine,
) -> None:
    clock = Clock(0.0)
    cache = KeyCache(engine, ttl=5.0, clock=clock)
    old_id, old = await create_key(engine, "billing", ["events:write"], rate_per_second=3.0)
    assert await cache.authenticate(old) is not None
    rotated = await rotate_key(engine, old_id)
    assert rotated is not None
    new = await cache.authenticate(rotated[1])
    assert new is not None and new.rate_per_second == 3.0
    clock.now += 5.0
    assert await cache.authenticate(old) is None


async def test_the_last_use_is_noted_when_the_key_is_read(engine: AsyncEngine) -> None:
    cache = KeyCache(engine, ttl=60.0)
    key_id, key = await create_key(engine, "reader", ["journeys:read"])
    # Many requests at once, the cache cold: all are answered, and the key's use is noted.
    answers = await asyncio.gather(*(cache.authenticate(key) for _ in range(20)))
    assert all(answer is not None and answer.key_id == key_id for answer in answers)
    [info] = [info for info in await list_keys(engine) if info.key_id == key_id]
    assert info.last_used_at is not None
    assert abs(info.last_used_at - datetime.now(UTC)) < timedelta(minutes=1)
