"""The deployment's sync (what the worker side runs at start): the published journeys with a schedule
trigger, in the policy's zone, on the configured queues."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.policy.loader import load_policy
from gridjourney.schedules.run import sync_journey_schedules

ROOT = Path(__file__).resolve().parents[2]


async def test_the_published_winter_prep_journey_gets_its_schedule_in_the_utilitys_zone(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    journeys = ROOT / "journeys"
    for name in ("winter_prep.yaml", "high_bill_alert.yaml"):
        source = (journeys / name).read_text(encoding="utf-8")
        await registry.publish(engine, source, name, ROOT / "templates")
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        task_queue=f"run-{suffix}", send_task_queue=f"run-sends-{suffix}", policy_file=ROOT / "policy.yaml"
    )
    client = temporal_dev_env.client
    changes = await sync_journey_schedules(engine, client, settings)
    zone = load_policy(ROOT / "policy.yaml").default_time_zone
    assert [(c.journey_id, c.change, c.cron, c.zone) for c in changes] == [
        ("winter_prep", "created", "0 10 1 11 *", zone)
    ]
    handle = client.get_schedule_handle(changes[0].schedule_id)
    described = await handle.describe()
    assert described.schedule.state.note is not None and "winter_prep v1" in described.schedule.state.note
    assert [c.change for c in await sync_journey_schedules(engine, client, settings)] == ["unchanged"]
    await handle.delete()
