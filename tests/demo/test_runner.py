"""The demo of `gridjourney run`, small: all four shipped journeys on real components (Postgres,
the Temporal dev server, the stack's workers, router and projections, the Twilio stand-in) reach
the states the demo expects — the same check `gridjourney run --exit-after-demo` makes."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.db.tables import journey_instances
from gridjourney.demo.runner import run_demo
from tests.stack import running_stack

REPO = Path(__file__).resolve().parents[2]
SID = "ACdemo0000000000000000000000000000"


async def test_the_demo_reaches_its_expected_states(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    async with running_stack(engine, temporal_dev_env.client) as running:
        console = Console(record=True, width=120)
        passed = await run_demo(
            engine, temporal_dev_env.client, running.settings, console, customers=20, timeout=120
        )
        assert passed, console.export_text()
        assert running.standin.received, "the demo's SMS reached the stand-in"
    async with engine.connect() as conn:
        journeys = set((await conn.execute(select(journey_instances.c.journey_id).distinct())).scalars())
        instances = (await conn.execute(select(func.count()).select_from(journey_instances))).scalar_one()
    assert journeys == {"onboarding", "high_bill_alert", "dr_event", "outage_notice"}
    assert instances == 20 + 3 * 4  # everyone onboarded; a slice of 4 customers per other journey
