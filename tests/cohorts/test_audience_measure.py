"""Measures a DR target audience at utility scale (not a test: no test functions, pytest collects none).

    GRIDJOURNEY_HOME=/tmp/dr-scale .venv/bin/python -m tests.cohorts.test_audience_measure seed
    GRIDJOURNEY_HOME=/tmp/dr-scale .venv/bin/python -m tests.cohorts.test_audience_measure resolve

`seed` writes 100,000 customers enrolled in `ptr` (straight into the projections' tables, as
tests/cohorts/test_audience.py does) and their hourly reads over the days before the event; `resolve`
then resolves a `target` audience over them in a process of its own, so that its peak memory is the
resolution's, and prints the time and the peak resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import insert, text

from gridjourney.cohorts.audience import resolve_audience
from gridjourney.config import get_settings
from gridjourney.db.engine import create_engine
from gridjourney.db.tables import customer_programs, customers
from gridjourney.devstack import resolve_database_url
from gridjourney.dsl.schema import AudienceSpec
from gridjourney.metering.store import ensure_partitions, months_spanned
from gridjourney.workflows.cohort_contracts import ResolveAudienceInput

EVENT_START = datetime(2026, 7, 15, 17, tzinfo=UTC)  # a Wednesday
EVENT_END = EVENT_START + timedelta(hours=3)
CUSTOMERS_PER_COPY = 10_000
FIRST_HOUR, LAST_HOUR = 14, 21


async def seed(count: int, days: int) -> None:
    engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
    rng = np.random.default_rng(1)
    now = datetime.now(UTC)
    ids = [f"m-{i:06d}" for i in range(count)]
    async with engine.begin() as conn:
        await conn.execute(
            insert(customers),
            [
                {
                    "customer_id": customer_id,
                    "time_zone": "UTC",
                    "attributes": {"scores": {"dr_response": float(rng.uniform(0.05, 0.95))}},
                    "created_at": now,
                    "updated_at": now,
                    "last_position": 0,
                }
                for customer_id in ids
            ],
        )
        await conn.execute(
            insert(customer_programs),
            [
                {"customer_id": customer_id, "program": "ptr", "enrolled_at": now, "last_position": 0}
                for customer_id in ids
            ],
        )
    # The reads are made in Postgres (generate_series): from Python, COPY of tens of millions of rows
    # takes the better part of an hour on this machine. Hourly reads in the hours around the event
    # (FIRST_HOUR..LAST_HOUR UTC) of every day: the hours the target reads, and a few it skips.
    first_day = EVENT_START.replace(hour=0) - timedelta(days=days)
    await ensure_partitions(engine, months_spanned(first_day, EVENT_START))
    began = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text("SELECT setseed(0.5)"))
    for offset in range(0, count, CUSTOMERS_PER_COPY):
        last = min(count, offset + CUSTOMERS_PER_COPY) - 1
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO meter_reads (customer_id, meter_id, read_at, interval_seconds, kwh, source) "
                    "SELECT 'm-' || lpad(i::text, 6, '0'), 'meter-' || lpad(i::text, 6, '0'), "
                    "day + make_interval(hours => h), 3600, random() * 2.0, 'measure' "
                    "FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS i, "
                    "generate_series(CAST(:first_day AS timestamptz), "
                    "CAST(:event_day AS timestamptz) - interval '1 day', interval '1 day') AS day, "
                    "generate_series(CAST(:first_hour AS integer), CAST(:last_hour AS integer)) AS h"
                ),
                {
                    "first": offset,
                    "last": last,
                    "first_day": first_day,
                    "event_day": EVENT_START.replace(hour=0),
                    "first_hour": FIRST_HOUR,
                    "last_hour": LAST_HOUR,
                },
            )
        print(f"{last + 1:,} customers' reads stored ({time.perf_counter() - began:.0f} s)")
    await engine.dispose()


async def resolve(target_kw: float) -> None:
    engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
    run_id = f"cohort:measure:{uuid.uuid4()}"
    request = ResolveAudienceInput(
        run_id=run_id,
        journey_id="measure",
        version=1,
        cohort_key=run_id,
        trigger_event_id=str(uuid.uuid4()),
        audience=AudienceSpec.model_validate(
            {"program": "event.program", "target": {"kw": "event.target_kw"}, "holdout": 0.05}
        ),
        subject={
            "dr_event_id": run_id,
            "program": "ptr",
            "target_kw": target_kw,
            "start": EVENT_START.isoformat(),
            "end": EVENT_END.isoformat(),
        },
        first_step="notice",
        track="t1",
    )
    began = time.perf_counter()
    outcome = await resolve_audience(engine, request)
    elapsed = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"target {target_kw:,.0f} kW: {outcome.members:,} members ({outcome.holdout:,} holdout), "
        f"expected {outcome.expected_kw:,.1f} kW, in {elapsed:.1f} s, peak resident memory {peak_mb:.0f} MB"
    )
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("step", choices=["seed", "resolve"])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=21, help="days of hourly reads before the event")
    parser.add_argument("--target-kw", type=float, default=1e12, help="default: everyone (all ranked)")
    args = parser.parse_args()
    if args.step == "seed":
        asyncio.run(seed(args.customers, args.days))
    else:
        asyncio.run(resolve(args.target_kw))


if __name__ == "__main__":
    main()
