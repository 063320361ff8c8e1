"""The demo of `gridjourney run`, small: the shipped journeys on real components (Postgres, the
Temporal dev server, the stack's workers, router and projections, the API, and the Twilio, SendGrid
and Web Push stand-ins) reach the states the demo expects, and every compliance case holds (email,
push, a STOP reply, quiet hours live and over a time-skipped night, a frequency cap) — the same check
`gridjourney run --exit-after-demo` makes."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.db.tables import journey_instances
from gridjourney.demo.compliance import CAPPED_NOTICES, Providers
from gridjourney.demo.runner import run_demo
from tests.stack import api_stack


async def test_the_demo_reaches_its_expected_states(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    async with api_stack(engine, temporal_dev_env.client) as api:
        running = api.running
        providers = Providers(sms=running.standin, email=running.email, push=running.push, api=api.http)
        console = Console(record=True, width=160)
        passed = await run_demo(
            engine, temporal_dev_env.client, running.settings, providers, console, customers=20, timeout=150
        )
        assert passed, console.export_text()
        assert running.standin.received, "the demo's SMS reached the Twilio stand-in"
        assert running.email.received, "its emails reached the SendGrid stand-in"
        assert running.push.received, "its push notifications reached the push stand-in"
    async with engine.connect() as conn:
        journeys = set((await conn.execute(select(journey_instances.c.journey_id).distinct())).scalars())
        instances = (await conn.execute(select(func.count()).select_from(journey_instances))).scalar_one()
    assert journeys == {"onboarding", "high_bill_alert", "dr_event", "outage_notice"}
    special = 5  # the compliance cases' customers: night, stop, cap and two with the app
    # everyone onboarded; a slice of 4 customers per other journey; the cases' own instances: an
    # outage (stop), the DR notices (cap, and one per app customer), the night's high-bill alert
    assert instances == (20 + special) + 3 * 4 + 1 + CAPPED_NOTICES + 2 + 1
