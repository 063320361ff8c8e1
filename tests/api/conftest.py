"""The API over a real, freshly migrated Postgres database, called in-process through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.app import create_app
from gridjourney.api.auth import create_key
from gridjourney.api.deps import TemporalClientProvider, lazy_temporal_client
from gridjourney.config import Settings
from gridjourney.temporal import data_converter

KeyFactory = Callable[..., Awaitable[dict[str, str]]]
# Nothing listens on port 1: connecting fails at once, as with a Temporal server that is down.
UNREACHABLE_TEMPORAL = "127.0.0.1:1"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", templates_dir=tmp_path / "templates", max_event_body_bytes=50_000)


@pytest.fixture
def temporal_provider(settings: Settings) -> TemporalClientProvider:
    """Routes that do not need Temporal are tested without it."""
    return lazy_temporal_client(UNREACHABLE_TEMPORAL, "default", data_converter(settings))


@pytest.fixture
def app(settings: Settings, engine: AsyncEngine, temporal_provider: TemporalClientProvider) -> FastAPI:
    return create_app(settings, engine, temporal_provider)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        yield http


@pytest.fixture
def make_key(engine: AsyncEngine) -> KeyFactory:
    """Creates a real API key with the given scopes; returns the Authorization header for it."""

    async def make(*scopes: str) -> dict[str, str]:
        _, key = await create_key(engine, "test", list(scopes))
        return {"Authorization": f"Bearer {key}"}

    return make


@pytest.fixture
async def admin(make_key: KeyFactory) -> dict[str, str]:
    return await make_key("admin")
