"""The running stack for end-to-end tests: the shipped journeys published, the worker side (Temporal
workers, projections, router) on its own task queues, and the provider stand-ins (Twilio, SendGrid,
a Web Push service) the messages go to; and the API over it (`api_stack`), reached in-process with
an admin key and an integration's key."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from gridjourney.api.app import create_app
from gridjourney.api.auth import create_key
from gridjourney.channels.push_standin import PushStandIn
from gridjourney.channels.sendgrid_standin import SendGridStandIn
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.demo.journeys import demo_journey_sources
from gridjourney.dsl import registry
from gridjourney.stack import WorkerSide

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_SID = "ACtest00000000000000000000000000"
AUTH_TOKEN = "secret"
SENDGRID_KEY = "SG.test-key"


@dataclass
class RunningStack:
    settings: Settings
    standin: TwilioStandIn
    workers: WorkerSide
    email: SendGridStandIn
    push: PushStandIn


def all_day_policy(directory: Path) -> Path:
    """The shipped policy with every purpose sendable around the clock: for tests about something
    other than quiet hours, which must pass whatever the hour they run at."""
    policy = yaml.safe_load((REPO / "policy.yaml").read_text())
    for rules in policy["purposes"].values():
        rules["sending_hours"] = "00:00-24:00"
    path = directory / "policy-all-day.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


@asynccontextmanager
async def running_stack(
    engine: AsyncEngine, client: Client, *, demo_journeys: bool = False, **settings: Any
) -> AsyncIterator[RunningStack]:
    """`settings` override the defaults (e.g. `home` for a models folder). `demo_journeys`: the
    journeys as the demo publishes them (gridjourney/demo/journeys.py: a 20-second outage hold)."""
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    async with (
        contextlib.AsyncExitStack() as stack,
        TwilioStandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as standin,
        SendGridStandIn(api_key=SENDGRID_KEY) as email,
        PushStandIn() as push,
    ):
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gridjourney-home-")))
        configured = Settings.model_validate(
            {
                "templates_dir": REPO / "templates",
                "policy_file": REPO / "policy.yaml",
                "home": home,  # the VAPID key and other generated keys of the embedded stack
                "task_queue": queue,
                "send_task_queue": f"{queue}-send",
                "twilio_account_sid": ACCOUNT_SID,
                "twilio_auth_token": AUTH_TOKEN,
                "twilio_base_url": standin.base_url,
                "sendgrid_api_key": SENDGRID_KEY,
                "sendgrid_base_url": email.base_url,
                "push_local_endpoints": True,  # the push stand-in listens on 127.0.0.1
                **settings,
            }
        )
        sources = [(path, path.read_text()) for path in sorted((REPO / "journeys").glob("*.yaml"))]
        for path, source in demo_journey_sources(sources) if demo_journeys else sources:
            await registry.publish(engine, source, str(path), configured.templates_dir)
        workers = WorkerSide(engine, client, configured)
        stop = asyncio.Event()
        running = asyncio.create_task(workers.run(stop))
        try:
            yield RunningStack(configured, standin, workers, email, push)
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
    running: RunningStack


@asynccontextmanager
async def api_stack(
    engine: AsyncEngine, client: Client, *, demo_journeys: bool = False
) -> AsyncIterator[ApiStack]:
    async def temporal() -> Client:
        return client

    async with running_stack(engine, client, demo_journeys=demo_journeys) as running:
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
                running,
            )


async def eventually(predicate: Callable[[], Awaitable[bool]], what: str, attempts: int = 300) -> None:
    """Poll (bounded by attempts, not asserted on time) until the predicate holds."""
    for _ in range(attempts):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")
