"""The demo of `gridjourney run`, small: the shipped journeys on real components (Postgres, the
Temporal dev server, the stack's workers, router and projections, the API, the Twilio, SendGrid and Web
Push stand-ins, a local OpenADR VTN and the VEN polling it) reach the states the demo expects: the
per-customer journeys, the cohort runs (a DR event from the VTN and its modification, a feeder outage
with an ETR update and a partial restoration, a momentary outage), and every compliance case (email,
push, a STOP reply, quiet hours live and over a time-skipped night, a frequency cap) — the same check
`gridjourney run --exit-after-demo` makes. The journeys are published as the demo publishes them
(gridjourney/demo/journeys.py: the outage notice held 20 seconds, not 5 minutes)."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.db.tables import cohort_runs, events, journey_instances
from gridjourney.demo.compliance import Providers
from gridjourney.demo.runner import played_before, run_demo
from gridjourney.openadr.ven import running_ven
from gridjourney.openadr.vtn import local_vtn
from tests.stack import api_stack

POLL = timedelta(seconds=1)


async def test_the_demo_reaches_its_expected_states(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    async with (
        api_stack(engine, temporal_dev_env.client, demo_journeys=True) as api,
        local_vtn(poll_interval=POLL) as vtn,
        running_ven(engine, api.running.settings, vtn_url=vtn.url, poll_interval=POLL),
    ):
        running = api.running
        providers = Providers(sms=running.standin, email=running.email, push=running.push, api=api.http)
        console = Console(record=True, width=160)
        assert not await played_before(engine)
        passed = await run_demo(
            engine, temporal_dev_env.client, running.settings, providers, console, customers=20, vtn=vtn
        )
        assert passed, console.export_text()
        # a second `gridjourney run` on this home skips the demo instead of refusing its ids' new content
        assert await played_before(engine)
        assert running.standin.received, "the demo's SMS reached the Twilio stand-in"
        assert running.email.received, "its emails reached the SendGrid stand-in"
        assert running.push.received, "its push notifications reached the push stand-in"
        # the VEN answered each version of the DR event
        assert {(a.event_id.split("-")[0], a.modification_number) for a in vtn.answers} >= {
            ("PTR", 0),
            ("PTR", 1),
        }
    async with engine.connect() as conn:
        journeys = set((await conn.execute(select(journey_instances.c.journey_id).distinct())).scalars())
        instances = (await conn.execute(select(func.count()).select_from(journey_instances))).scalar_one()
        runs: dict[str, int] = dict(
            (
                await conn.execute(
                    select(cohort_runs.c.journey_id, func.count()).group_by(cohort_runs.c.journey_id)
                )
            ).all()
        )
        from_vtn = (
            await conn.execute(select(func.count()).select_from(events).where(events.c.source == "openadr"))
        ).scalar_one()
    # per customer: everyone onboarded (20 and the cases' 5 customers), a slice of 4 high-bill alerts,
    # the night's alert; the DR events and outages are cohort runs, not instances
    assert journeys == {"onboarding", "high_bill_alert"}
    assert instances == (20 + 5) + 4 + 1
    assert runs == {"dr_event": 4, "outage_notice": 2}  # Peak Time Rewards, 3 for the cap case; 2 outages
    assert from_vtn == 5  # 4 scheduled and 1 modified, appended by the VEN
