"""API keys as the API checks them: from a short-lived in-process cache, not a query per request.

A key's row (scopes, rate, expiry, secret hash) is read at most once per `ttl` seconds per API
process; every request still checks its secret against the cached hash and the expiry against the
clock. So a revocation, a rotation's end, a changed rate or a new expiry takes effect within `ttl`
seconds (settings.api_key_cache_seconds), an expiry already known at once. The last-used time is
written with the refresh, when the one noted is over a minute old (api/auth.py): one statement per
key per minute at most, instead of a read per request. Unknown, revoked and expired keys are never
cached: each such request reads the table, as before.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import ActiveKey, Principal, active_key, hash_secret, note_use, parse_key

# At most this many keys are cached; beyond it the oldest entry is dropped (a guard, not a tuning knob).
MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True)
class _Cached:
    key: ActiveKey
    read_at: float  # monotonic


class KeyCache:
    def __init__(
        self,
        engine: AsyncEngine,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """`ttl`: seconds a key's row is trusted (0: read on every request)."""
        self.engine = engine
        self.ttl = ttl
        self._clock = clock
        self._wall_clock = wall_clock
        self._keys: dict[str, _Cached] = {}
        self._reading: dict[str, asyncio.Future[ActiveKey | None]] = {}

    async def authenticate(self, raw_key: str) -> Principal | None:
        """The principal of an active key whose secret matches, else None (as api/auth.authenticate)."""
        parsed = parse_key(raw_key)
        if parsed is None:
            return None
        key_id, secret = parsed
        cached = self._keys.get(key_id)
        if cached is None or self._clock() - cached.read_at >= self.ttl:
            key = await self._read(key_id)
        else:
            key = cached.key
        if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(key_id, secret)):
            return None
        if key.expires_at is not None and key.expires_at <= self._wall_clock():
            self._keys.pop(key_id, None)
            return None
        return key.principal

    async def _read(self, key_id: str) -> ActiveKey | None:
        """The key's row, read once for all the requests that wait for it at the same time."""
        reading = self._reading.get(key_id)
        if reading is not None:
            return await asyncio.shield(reading)
        reading = self._reading[key_id] = asyncio.get_running_loop().create_future()
        try:
            key = await active_key(self.engine, key_id)
            if key is not None and key.stale:
                await note_use(self.engine, key_id)
        except BaseException as error:
            reading.set_exception(error)
            reading.exception()  # retrieved: the waiters (if any) raise it themselves
            raise
        finally:
            del self._reading[key_id]
        if key is None:
            self._keys.pop(key_id, None)
        else:
            if len(self._keys) >= MAX_CACHED_KEYS and key_id not in self._keys:
                del self._keys[next(iter(self._keys))]
            self._keys[key_id] = _Cached(key, self._clock())
        reading.set_result(key)
        return key
