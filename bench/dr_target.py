"""The DR target audience at utility scale: `target: {kw, rank_by}` over a 100,000-customer program.

    GRIDJOURNEY_HOME=/tmp/dr-scale gridjourney bench dr-target seed
    GRIDJOURNEY_HOME=/tmp/dr-scale gridjourney bench dr-target resolve [--target-kw 20000]

`seed` writes 100,000 customers enrolled in `ptr` straight into the projections' tables, and their
hourly reads over the days before the event (made in Postgres: from Python the rows would take the
better part of an hour). `resolve` runs in a process of its own, so that its peak memory is the
resolutions': first the plain program audience (every enrolled customer, no reads: the baseline),
then the target audience (expected kW per customer from their like-day baseline over the event
hours, ranked, picked until the target). Both are printed side by side and saved under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.saving import save, stamped
from gridjourney.cohorts.audience import resolve_audience
from gridjourney.config import get_settings
from gridjourney.db.engine import create_engine
from gridjourney.db.tables import customer_programs, customers
from gridjourney.devstack import resolve_database_url
from gridjourney.dsl.schema import AudienceSpec
from gridjourney.metering.store import ensure_partitions, months_spanned
from gridjourney.workflows.cohort_contracts import ResolveAudienceInput

RESULTS_DIR = Path(__file__).parent / "results"
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


def _request(run_id: str, target_kw: float | None) -> ResolveAudienceInput:
    audience: dict[str, object] = {"program": "event.program", "holdout": 0.05}
    if target_kw is not None:
        audience["target"] = {"kw": "event.target_kw"}
    return ResolveAudienceInput(
        run_id=run_id,
        journey_id="measure",
        version=1,
        cohort_key=run_id,
        trigger_event_id=str(uuid.uuid4()),
        audience=AudienceSpec.model_validate(audience),
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


async def _resolved(engine: AsyncEngine, target_kw: float | None) -> dict[str, Any]:
    run_id = f"cohort:measure:{uuid.uuid4()}"
    began = time.perf_counter()
    outcome = await resolve_audience(engine, _request(run_id, target_kw))
    return {
        "members": outcome.members,
        "holdout": outcome.holdout,
        "expected_kw": None if outcome.expected_kw is None else round(outcome.expected_kw, 1),
        "seconds": round(time.perf_counter() - began, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


async def resolve(target_kw: float) -> None:
    engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
    async with engine.connect() as conn:
        enrolled = int((await conn.execute(text("SELECT count(*) FROM customer_programs"))).scalar_one())
        reads = int((await conn.execute(text("SELECT count(*) FROM meter_reads"))).scalar_one())
    figures: dict[str, Any] = {"enrolled": enrolled, "meter_reads": reads, "target_kw": target_kw}
    figures["program_audience"] = await _resolved(engine, None)
    figures["target_audience"] = await _resolved(engine, target_kw)
    await engine.dispose()
    print(f"{enrolled:,} enrolled customers, {reads:,} meter reads; peak resident memory is the process's")
    print(
        f"{'audience':<18}{'members':>10}{'holdout':>9}{'expected kW':>13}{'seconds':>9}{'peak RSS MB':>13}"
    )
    for name in ("program_audience", "target_audience"):
        f = figures[name]
        expected = "" if f["expected_kw"] is None else f"{f['expected_kw']:,.1f}"
        print(
            f"{name:<18}{f['members']:>10,}{f['holdout']:>9,}{expected:>13}{f['seconds']:>9}{f['peak_rss_mb']:>13}"
        )
    save(stamped(figures), RESULTS_DIR, "dr-target")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", choices=["seed", "resolve"])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=21, help="days of hourly reads before the event")
    parser.add_argument("--target-kw", type=float, default=20_000.0, help="the event's kW target")
    args = parser.parse_args(argv)
    if args.step == "seed":
        asyncio.run(seed(args.customers, args.days))
    else:
        asyncio.run(resolve(args.target_kw))


if __name__ == "__main__":
    main()
