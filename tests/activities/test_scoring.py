"""The daily scan's activity reads the stored weather of its customers' zones: the detector's features
carry the temperatures, and the result says which (or that they were weather-free). Real Postgres; the
activity runs in temporalio's ActivityEnvironment (heartbeats without a server)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from gridjourney.activities.scoring import ScoringActivities
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.metering.store import copy_reads
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.scoring.customer_scores import NO_WEATHER
from gridjourney.weather.queries import upsert_daily
from gridjourney.weather.stations import SIMULATOR_STATIONS
from gridjourney.workflows.scoring import ScoreInput

THROUGH = date(2025, 3, 20)
ZONE = "America/Chicago"


async def _customer_with_reads(engine: AsyncEngine, customer_id: str) -> None:
    await EventStore(engine).append(
        [
            NewEvent(
                event_id=uuid.uuid4(),
                type="customer.created",
                customer_id=customer_id,
                occurred_at=datetime(2024, 12, 1, tzinfo=UTC),
                source="crm",
                payload={"name": "Rosa Diaz", "time_zone": ZONE, "attributes": {"billing_cycle_day": 1}},
            )
        ]
    )
    await ProjectionRunner(engine).catch_up()
    hours = pd.date_range(pd.Timestamp(THROUGH - timedelta(days=59)), periods=60 * 24, freq="h", tz="UTC")
    reads = pd.DataFrame(
        {"customer_id": customer_id, "meter_id": f"M-{customer_id}", "read_at": hours,
         "interval_seconds": 3600, "kwh": 0.5, "source": "test"}
    )  # fmt: skip
    await copy_reads(engine, reads)


async def _scan(engine: AsyncEngine, models_dir: Path) -> str:
    activities = ScoringActivities(engine, models_dir=models_dir)
    request = ScoreInput(customer_ids=["C-1"], since=THROUGH - timedelta(days=3), through=THROUGH)
    result = await ActivityEnvironment().run(activities.score_customers, request)
    assert result.customers == 1
    return result.weather


async def test_the_scan_uses_the_zones_stored_weather_and_says_when_there_is_none(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await _customer_with_reads(engine, "C-1")
    assert await _scan(engine, tmp_path) == NO_WEATHER
    days = pd.date_range(pd.Timestamp(THROUGH - timedelta(days=59)), periods=60, freq="D")
    await upsert_daily(
        engine,
        pd.DataFrame(
            {
                "station_id": SIMULATOR_STATIONS[ZONE],
                "date": days,
                "temperature_c": 4.0,
                "observations": 24,
                "source": "test",
            }
        ),
    )
    assert await _scan(engine, tmp_path) == "daily mean temperatures of 1 zone(s)"
