"""The running stack for end-to-end tests: the shipped journeys published, the worker side (Temporal
workers, projections, router) on its own task queues, and the Twilio stand-in the SMS goes to; and
the API over it (`api_stack`), reached in-process with an admin key and an integration's key."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from gridjourney.api.app import create_app
from gridjourney.api.auth import create_key
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.stack import WorkerSide

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_SID = "ACtest00000000000000000000000000"
AUTH_TOKEN = "secret"


@dataclass
class RunningStack:
    settings: Settings
    standin: TwilioStandIn
    workers: WorkerSide


@asynccontextmanager
async def running_stack(engine: AsyncEngine, client: Client, **settings: Any) -> AsyncIterator[RunningStack]:
    """`settings` override the defaults (e.g. `home` for a models folder)."""
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    async with TwilioStandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as standin:
        configured = Settings.model_validate(
            {
                "templates_dir": REPO / "templates",
                "task_queue": queue,
                "send_task_queue": f"{queue}-send",
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": AUTH_TOKEN,
                "twilio_base_url": standin.base_url,
                **settings,
            }
        )
        for path in sorted((REPO / "journeys").glob("*.yaml")):
            await registry.publish(engine, path.read_text(), str(path), configured.templates_dir)
        workers = WorkerSide(engine, client, configured)
        stop = asyncio.Event()
        running = asyncio.create_task(workers.run(stop))
        try:
            yield RunningStack(configured, standin, workers)
        finally:
            stop.set()
            await running


@dataclass
class ApiStack:
    http: httpx.AsyncClient
    admin: dict[str, str]
    """Headers with an `admin` key."""
    writer: dict[str, str]
    """Headers with an integration's key: events:write, journeys:read and journeys:write, not admin."""
    standin: TwilioStandIn


@asynccontextmanager
async def api_stack(engine: AsyncEngine, client: Client) -> AsyncIterator[ApiStack]:
    async def temporal() -> Client:
        return client

    async with running_stack(engine, client) as running:
        app = create_app(running.settings, engine, temporal)
        _, admin = await create_key(engine, "admin", ["admin"])
        _, writer = await create_key(engine, "writer", ["events:write", "journeys:read", "journeys:write"])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as http:
            yield ApiStack(
                http,
                {"Authorization": f"Bearer {admin}"},
                {"Authorization": f"Bearer {writer}"},
                running.standin,
            )


async def eventually(predicate: Callable[[], Awaitable[bool]], what: str, attempts: int = 300) -> None:
    """Poll (bounded by attempts, not asserted on time) until the predicate holds."""
    for _ in range(attempts):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")
