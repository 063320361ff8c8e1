"""Usage summed in Postgres is the usage summed from the same reads in memory (tariffs/usage.py)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.metering.store import copy_reads
from gridjourney.tariffs.queries import stored_usage
from gridjourney.tariffs.usage import usage_from_reads
from tests.tariffs.support import hourly_reads


async def test_stored_usage_is_the_usage_of_the_same_reads_in_memory(engine: AsyncEngine) -> None:
    def evening(hour: pd.Timestamp) -> float:
        return 2.5 if 16 <= hour.hour < 21 else 0.25 + hour.hour / 100

    reads = pd.concat(
        [
            # across both clock changes and the July 4 holiday, half-hourly
            hourly_reads(
                "ny",
                date(2023, 1, 1),
                date(2023, 12, 31),
                evening,
                zone="America/New_York",
                interval_minutes=30,
            ),
            # London, from 20 October only (a partial year), 15-minute reads
            hourly_reads(
                "london",
                date(2023, 10, 20),
                date(2023, 12, 31),
                evening,
                zone="Europe/London",
                interval_minutes=15,
            ),
            # before the window: left out both ways
            hourly_reads("ny", date(2022, 12, 30), date(2022, 12, 31), zone="America/New_York"),
        ]
    )
    await copy_reads(engine, reads.assign(meter_id=reads["customer_id"] + "-m", source="test"))
    zones = {"ny": "America/New_York", "london": "Europe/London", "none": "UTC"}
    stored = await stored_usage(engine, zones, date(2023, 12, 31), holidays="US")
    in_memory = usage_from_reads(reads, zones, date(2023, 12, 31), holidays="US")
    assert stored.customers == in_memory.customers
    assert stored.months.tolist() == in_memory.months.tolist()
    assert stored.days_in_month.tolist() == in_memory.days_in_month.tolist()
    assert stored.days.tolist() == in_memory.days.tolist()
    assert stored.days_read.tolist() == [365, 73, 0]
    np.testing.assert_allclose(stored.kwh, in_memory.kwh, rtol=1e-12, atol=1e-9)
    assert stored.kwh[0].sum() > 0 and stored.kwh[2].sum() == 0
