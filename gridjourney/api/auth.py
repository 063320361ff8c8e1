"""API keys: `gj_<key_id>_<secret>`. Only an HMAC-SHA256 of the secret is stored; the key is shown once.

Scopes: `events:write`, `journeys:read`, `journeys:write`, and `admin`, which implies every other.

For operations: a key may expire (`expires_at`; expired keys are refused like revoked ones), `rotate_key`
hands out a successor with the same name, scopes, expiry and rate, and the old key stops at once or
after a grace period; `last_used_at` is kept to the minute (one write per key per minute at most, not
one per request). Each key's event writes are rate limited per API process (`RateLimiter`): its own
`rate_per_second`, else settings.api_key_rate_per_second. The API reads keys through a short-lived
cache (api/key_cache.py): a revocation or rotation reaches it within settings.api_key_cache_seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from pydantic import BaseModel
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gridjourney.db.tables import api_keys
from gridjourney.events.fields import clean_text_problem

Scope = Literal["events:write", "journeys:read", "journeys:write", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)
KEY_PREFIX = "gj"
LAST_USED_RESOLUTION = timedelta(minutes=1)


class Principal(BaseModel):
    """Who is calling: the key's id, its name and its scopes."""

    key_id: str
    name: str
    scopes: list[str]
    rate_per_second: float | None = None
    """Its own limit on event writes (None: the configured default)."""

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


class ApiKeyInfo(BaseModel):
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    rate_per_second: float | None


def hash_secret(key_id: str, secret: str) -> str:
    # Keyed by the key id so equal secrets of different keys never hash alike; the secret has 256
    # random bits, so a fast hash is enough (no password stretching needed).
    return hmac.new(key_id.encode(), secret.encode(), hashlib.sha256).hexdigest()


def parse_key(raw: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed key, else None. The secret may itself contain `_`."""
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def validate_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    return sorted(set(scopes))


MAX_KEY_NAME = 200  # api_keys.name is String(200)


def validate_name(name: str) -> str:
    """A key's name as `api_keys.name` can hold it: 1 to 200 characters of storable text."""
    limit = MAX_KEY_NAME
    if not name.strip() or len(name) > limit:
        raise ValueError(f"give 1 to {limit} characters (got {len(name)})")
    if (problem := clean_text_problem(name)) is not None:
        raise ValueError(f"the name {problem}")
    return name


# A key's own rate: at least one write every 100 s (so a Retry-After never exceeds 100 s), at most
# 100,000 a second (beyond what one API process serves; leave the rate unset for the default).
MIN_RATE_PER_SECOND = 0.01
MAX_RATE_PER_SECOND = 100_000.0


def validate_rate(rate_per_second: float | None) -> float | None:
    if rate_per_second is None:
        return None
    if not (math.isfinite(rate_per_second) and MIN_RATE_PER_SECOND <= rate_per_second <= MAX_RATE_PER_SECOND):
        raise ValueError(
            f"{rate_per_second:g} is not a rate for a key: give {MIN_RATE_PER_SECOND:g} (one write every "
            f"{1 / MIN_RATE_PER_SECOND:g} s) to {MAX_RATE_PER_SECOND:,.0f} write requests per second"
        )
    return rate_per_second


def bounded_rate(rate_per_second: float) -> float:
    """A rate within the bounds validate_rate keeps: a key stored before them (1e-300) or a configured
    default out of them is limited as the nearest bound, never with a Retry-After of 300 digits."""
    return min(max(rate_per_second, MIN_RATE_PER_SECOND), MAX_RATE_PER_SECOND)


async def create_key(
    engine: AsyncEngine,
    name: str,
    scopes: list[str],
    *,
    expires_at: datetime | None = None,
    rate_per_second: float | None = None,
) -> tuple[str, str]:
    """Store a new key; returns (key_id, the full key to hand to the caller once)."""
    checked = validate_scopes(scopes)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            insert(api_keys).values(
                key_id=key_id,
                name=name,
                secret_hash=hash_secret(key_id, secret),
                scopes=checked,
                expires_at=expires_at,
                rate_per_second=validate_rate(rate_per_second),
            )
        )
    return key_id, f"{KEY_PREFIX}_{key_id}_{secret}"


def _active() -> ColumnElement[bool]:
    return api_keys.c.revoked_at.is_(None) & or_(
        api_keys.c.expires_at.is_(None), api_keys.c.expires_at > func.now()
    )


async def rotate_key(
    engine: AsyncEngine, key_id: str, grace: timedelta = timedelta(0)
) -> tuple[str, str] | None:
    """A successor of an active key (same name, scopes, expiry and rate); the old key is revoked now, or
    expires after `grace` so that its users can switch. None when no active key has that id."""
    async with engine.begin() as conn:
        old = (
            await conn.execute(
                select(api_keys).where(api_keys.c.key_id == key_id, _active()).with_for_update()
            )
        ).first()
        if old is None:
            return None
        new_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        await conn.execute(
            insert(api_keys).values(
                key_id=new_id,
                name=old.name,
                secret_hash=hash_secret(new_id, secret),
                scopes=old.scopes,
                expires_at=old.expires_at,
                rate_per_second=old.rate_per_second,
            )
        )
        ends: ColumnElement[datetime] = func.now() + grace
        if old.expires_at is not None:
            ends = func.least(old.expires_at, ends)
        ending = {"revoked_at": func.now()} if grace <= timedelta(0) else {"expires_at": ends}
        await conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(**ending))
    return new_id, f"{KEY_PREFIX}_{new_id}_{secret}"


async def list_keys(engine: AsyncEngine) -> list[ApiKeyInfo]:
    query = select(
        api_keys.c.key_id,
        api_keys.c.name,
        api_keys.c.scopes,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
        api_keys.c.expires_at,
        api_keys.c.last_used_at,
        api_keys.c.rate_per_second,
    ).order_by(api_keys.c.created_at)
    async with engine.connect() as conn:
        return [ApiKeyInfo.model_validate(row._mapping) for row in await conn.execute(query)]


async def revoke_key(engine: AsyncEngine, key_id: str) -> bool:
    """Revoke a key; False when no active key has that id."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )
    return result.rowcount > 0


@dataclass(frozen=True)
class ActiveKey:
    """An active key's row as authentication needs it."""

    principal: Principal
    secret_hash: str
    expires_at: float | None  # POSIX seconds
    stale: bool  # its last use was noted over LAST_USED_RESOLUTION ago (or never)


async def active_key(engine: AsyncEngine, key_id: str) -> ActiveKey | None:
    """The key's row when it is active (not revoked, not expired), else None."""
    stale = or_(
        api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < func.now() - LAST_USED_RESOLUTION
    ).label("stale")
    query = select(
        api_keys.c.name,
        api_keys.c.secret_hash,
        api_keys.c.scopes,
        api_keys.c.rate_per_second,
        api_keys.c.expires_at,
        stale,
    ).where(api_keys.c.key_id == key_id, _active())
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    principal = Principal(
        key_id=key_id, name=row.name, scopes=list(row.scopes), rate_per_second=row.rate_per_second
    )
    expires_at = None if row.expires_at is None else row.expires_at.timestamp()
    return ActiveKey(principal, row.secret_hash, expires_at, bool(row.stale))


async def expired_at(engine: AsyncEngine, raw_key: str) -> datetime | None:
    """When the key expired, if it is one of ours, unrevoked, past its expiry and its secret matches;
    else None. Only a caller holding the whole key learns it: a guessed key id learns nothing."""
    parsed = parse_key(raw_key)
    if parsed is None:
        return None
    key_id, secret = parsed
    query = select(api_keys.c.secret_hash, api_keys.c.expires_at).where(
        api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None), api_keys.c.expires_at <= func.now()
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(key_id, secret)):
        return None
    expired: datetime = row.expires_at
    return expired


async def note_use(engine: AsyncEngine, key_id: str) -> None:
    async with engine.begin() as conn:
        noted = update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_at=func.now())
        await conn.execute(noted)


async def authenticate(engine: AsyncEngine, raw_key: str) -> Principal | None:
    """The principal of an active (not revoked, not expired) key whose secret matches, else None.
    Notes its use when the last one noted is over a minute old. The API reads keys through its
    cache (api/key_cache.py); this is the uncached check."""
    parsed = parse_key(raw_key)
    if parsed is None:
        return None
    key_id, secret = parsed
    key = await active_key(engine, key_id)
    if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(key_id, secret)):
        return None
    if key.stale:
        await note_use(engine, key_id)
    return key.principal


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def available(self, now: float) -> float:
        return min(self.burst, self.tokens + (now - self.updated) * self.rate)


class RateLimiter:
    """A token bucket per key: `rate` requests a second on average, bursts of one second's worth
    (at least one request). In memory: each API process limits on its own."""

    def __init__(self, default_rate: float | None) -> None:
        self.default_rate = default_rate
        self._buckets: dict[str, _Bucket] = {}

    def retry_after(self, principal: Principal) -> float | None:
        """None: admitted (a token is taken). Else the seconds until the key may try again."""
        given = principal.rate_per_second or self.default_rate
        if given is None:
            return None
        rate = bounded_rate(given)
        now = time.monotonic()
        bucket = self._buckets.get(principal.key_id)
        if bucket is None or bucket.rate != rate:
            burst = max(rate, 1.0)
            bucket = self._buckets[principal.key_id] = _Bucket(rate, burst, burst, now)
        bucket.tokens = bucket.available(now)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate

    def exhausted(self, key_id: str) -> float | None:
        """Before authentication, without taking a token: the seconds to wait when the key's bucket is
        empty, else None. A flood is thus refused without a database query per request."""
        bucket = self._buckets.get(key_id)
        if bucket is None:
            return None
        available = bucket.available(time.monotonic())
        return None if available >= 1.0 else (1.0 - available) / bucket.rate
