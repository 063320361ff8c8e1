"""End to end on real components: interval reads in the test Postgres, the daily scoring scan
(DailyScoringWorkflow on the Temporal dev server, run by the stack's worker), the router starting the
usage_spike journey from the `meter.anomaly_detected` it appends, and the SMS reaching the Twilio
stand-in. A second scan of the same days appends nothing; a customer with too little history gets no
event and a recorded reason."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.metering.store import copy_reads
from gridjourney.workflows.scoring import SCHEDULE_ID, DailyScoringWorkflow, ScanInput, ScanResult
from tests.stack import all_day_policy, running_stack

REPO = Path(__file__).resolve().parents[2]
THROUGH = date(2025, 3, 20)
ZONE = "America/Los_Angeles"


@dataclass
class Stack:
    store: EventStore
    standin: TwilioStandIn
    settings: Settings
    env: WorkflowEnvironment


@pytest.fixture
async def stack(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Stack]:
    # home: no trained models there, so the scan uses the rule baseline, and says so
    # The usage-spike SMS is informational: sendable around the clock here, so that the test passes
    # at night in Los Angeles too (quiet hours have their own tests).
    policy_file = all_day_policy(tmp_path)
    async with running_stack(
        engine, temporal_dev_env.client, home=tmp_path, policy_file=policy_file
    ) as running:
        yield Stack(EventStore(engine), running.standin, running.settings, temporal_dev_env)


def hourly_reads(customer_id: str, days: int, step_days: int, seed: int) -> pd.DataFrame:
    """Hourly reads of the `days` local days up to THROUGH: an evening-peak household with noise,
    its use doubled on the last `step_days` days."""
    rng = np.random.default_rng(seed)
    first = pd.Timestamp(THROUGH - timedelta(days=days - 1))
    hours = pd.date_range(first, periods=days * 24, freq="h").tz_localize(ZONE, nonexistent="shift_forward")
    hours = hours.drop_duplicates()
    hour = hours.hour.to_numpy()
    kwh = 0.4 + 0.8 * np.isin(hour, [17, 18, 19, 20]) + 0.3 * np.isin(hour, [7, 8])
    kwh = kwh * rng.normal(1.0, 0.08, len(hours))
    step = hours.date >= THROUGH - timedelta(days=step_days - 1)
    kwh = np.where(step, kwh * 2.0, kwh)
    return pd.DataFrame(
        {
            "customer_id": customer_id,
            "meter_id": f"M-{customer_id}",
            "read_at": hours.tz_convert("UTC"),
            "interval_seconds": 3600,
            "kwh": kwh,
            "source": "test",
        }
    )


def customer(customer_id: str, phone: str) -> list[NewEvent]:
    at = datetime(2024, 12, 1, tzinfo=UTC)
    return [
        NewEvent(
            event_id=uuid.uuid4(),
            type="customer.created",
            customer_id=customer_id,
            occurred_at=at,
            source="crm",
            payload={
                "name": "Rosa Diaz",
                "phone": phone,
                "time_zone": ZONE,
                # day 3 of the bill period on THROUGH: too early for a bill projection
                "attributes": {"billing_cycle_day": 18, "tariff": "residential_flat"},
            },
        ),
        NewEvent(
            event_id=uuid.uuid4(),
            type="consent.changed",
            customer_id=customer_id,
            occurred_at=at,
            source="crm",
            payload={"channel": "sms", "purpose": "informational", "granted": True},
        ),
    ]


async def _eventually(predicate: Any, what: str, attempts: int = 300) -> None:
    for _ in range(attempts):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def scan(stack: Stack) -> ScanResult:
    return await stack.env.client.execute_workflow(
        DailyScoringWorkflow.run,
        ScanInput(since=THROUGH - timedelta(days=3), through=THROUGH, batch_size=1),
        id=f"scan-{uuid.uuid4().hex[:8]}",
        task_queue=stack.settings.task_queue,
    )


async def test_a_planted_step_becomes_an_anomaly_a_journey_and_one_sms(
    stack: Stack, engine: AsyncEngine
) -> None:
    await stack.store.append([*customer("C-SPIKE", "+15035550177"), *customer("C-NEW", "+15035550178")])
    await copy_reads(engine, hourly_reads("C-SPIKE", days=70, step_days=4, seed=1))
    await copy_reads(engine, hourly_reads("C-NEW", days=9, step_days=0, seed=2))

    first = await scan(stack)
    # batch_size=1: two customers are two pages of the scan
    assert first.totals.batches == 2 and first.totals.customers == 2
    assert first.totals.anomalies_appended == 1
    assert first.totals.detector.startswith("rule baseline (no saved model")
    [short] = [skip for skip in first.totals.reasons if skip.customer_id == "C-NEW"]
    assert "days of history" in short.reason
    assert not [event for event in await stack.store.read_customer("C-NEW") if event.source == "scoring"]

    [anomaly] = [e for e in await stack.store.read_customer("C-SPIKE") if e.type == "meter.anomaly_detected"]
    assert anomaly.payload["anomaly_type"] == "step_increase"
    assert anomaly.payload["meter_id"] == "M-C-SPIKE"
    assert anomaly.payload["days"][-1] > (THROUGH - timedelta(days=3)).isoformat()

    async def sms_arrived() -> bool:
        return any("unusually high" in message.body for message in stack.standin.received)

    await _eventually(sms_arrived, "the usage_spike SMS at the stand-in")
    [sms] = [message for message in stack.standin.received if "unusually high" in message.body]
    assert sms.to == "+15035550177"

    again = await scan(stack)
    assert again.totals.anomalies_appended == 0 and again.totals.projections_appended == 0
    assert again.totals.duplicates == 1
    events = await stack.store.read_customer("C-SPIKE")
    assert sum(e.type == "meter.anomaly_detected" for e in events) == 1
    entered = [e.payload["journey_id"] for e in events if e.type == "journey.entered"]
    assert entered.count("usage_spike") == 1  # (onboarding starts from customer.created)

    # The worker side created the daily schedule that runs this scan.
    description = await stack.env.client.get_schedule_handle(SCHEDULE_ID).describe()
    assert description.schedule.spec.calendars
