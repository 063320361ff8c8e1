"""API keys: `gj_<key_id>_<secret>`. Only an HMAC-SHA256 of the secret is stored; the key is shown once.

Scopes: `events:write`, `journeys:read`, `journeys:write`, and `admin`, which implies every other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import api_keys

Scope = Literal["events:write", "journeys:read", "journeys:write", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)
KEY_PREFIX = "gj"


class Principal(BaseModel):
    """Who is calling: the key's id, its name and its scopes."""

    key_id: str
    name: str
    scopes: list[str]

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


class ApiKeyInfo(BaseModel):
    key_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


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


async def create_key(engine: AsyncEngine, name: str, scopes: list[str]) -> tuple[str, str]:
    """Store a new key; returns (key_id, the full key to hand to the caller once)."""
    checked = validate_scopes(scopes)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            insert(api_keys).values(
                key_id=key_id, name=name, secret_hash=hash_secret(key_id, secret), scopes=checked
            )
        )
    return key_id, f"{KEY_PREFIX}_{key_id}_{secret}"


async def list_keys(engine: AsyncEngine) -> list[ApiKeyInfo]:
    query = select(
        api_keys.c.key_id, api_keys.c.name, api_keys.c.scopes, api_keys.c.created_at, api_keys.c.revoked_at
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


async def authenticate(engine: AsyncEngine, raw_key: str) -> Principal | None:
    """The principal of an active key whose secret matches, else None."""
    parsed = parse_key(raw_key)
    if parsed is None:
        return None
    key_id, secret = parsed
    query = select(api_keys.c.name, api_keys.c.secret_hash, api_keys.c.scopes).where(
        api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(key_id, secret)):
        return None
    return Principal(key_id=key_id, name=row.name, scopes=list(row.scopes))
