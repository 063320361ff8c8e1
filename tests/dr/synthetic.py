"""A small synthetic DR trial for the tests: hourly reads of homes with a known load, a DR event, and
planted responders who shed a known kW over the event hours. Holdout homes behave like the treated
ones but are never asked, so the report should find the planted reduction against them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dr import queries
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.metering.store import copy_reads
from gridjourney.projections.runner import ProjectionRunner

EVENT_START = datetime(2024, 3, 14, 17, tzinfo=UTC)  # a Thursday, 17:00-20:00 UTC
EVENT_END = EVENT_START + timedelta(hours=3)
DAYS_BEFORE = 30


@dataclass(frozen=True)
class Trial:
    treated: list[str]
    holdout: list[str]
    responders: list[str]
    shed_kw: float
    reads: pd.DataFrame


def build_trial(
    *, treated: int = 40, holdout: int = 40, responders: int = 30, shed_kw: float = 0.6, seed: int = 7
) -> Trial:
    """Homes with a 1-2 kW evening load and noise; the first `responders` treated homes shed `shed_kw`
    in every event hour; every home also uses 0.2 kW more on the event day (a hot day), which only the
    holdout comparison removes."""
    rng = np.random.default_rng(seed)
    treated_ids = [f"t{i:03d}" for i in range(treated)]
    holdout_ids = [f"h{i:03d}" for i in range(holdout)]
    midnight = pd.Timestamp(EVENT_START.replace(hour=0))
    hours = pd.date_range(
        midnight - pd.Timedelta(days=DAYS_BEFORE), midnight + pd.Timedelta(days=1), freq="h"
    )[:-1]
    event_day = hours.date == EVENT_START.date()
    in_event = (hours >= pd.Timestamp(EVENT_START)) & (hours < pd.Timestamp(EVENT_END))
    evening = np.isin(hours.hour, range(17, 21))
    frames = []
    for customer_id in treated_ids + holdout_ids:
        level = rng.uniform(1.0, 2.0)
        kwh = 0.4 + evening * level + rng.normal(0.0, 0.15, len(hours)) + event_day * 0.2
        if customer_id in treated_ids[:responders]:
            kwh = kwh - in_event * shed_kw
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": customer_id,
                    "meter_id": f"m-{customer_id}",
                    "read_at": hours,
                    "interval_seconds": 3600,
                    "kwh": np.clip(kwh, 0.0, None),
                    "source": "test",
                }
            )
        )
    return Trial(
        treated=treated_ids,
        holdout=holdout_ids,
        responders=treated_ids[:responders],
        shed_kw=shed_kw,
        reads=pd.concat(frames, ignore_index=True),
    )


async def store_trial(
    engine: AsyncEngine,
    trial: Trial,
    *,
    run_id: str = "cohort:dr_event:ev-1",
    dr_event_id: str = "ev-1",
    expected_kw: float = 10.0,
    subject: dict[str, Any] | None = None,
) -> None:
    """The event in the log, the reads in the metering store and the run with its members (the treated
    homes step `perf`, track `t`, in segments by parity)."""
    await EventStore(engine).append(
        [
            NewEvent(
                event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"test-dr/{dr_event_id}"),
                type="dr.event_scheduled",
                occurred_at=EVENT_START - timedelta(days=1),
                source="test",
                payload={
                    "dr_event_id": dr_event_id,
                    "program": "ptr",
                    "start": EVENT_START.isoformat(),
                    "end": EVENT_END.isoformat(),
                },
            )
        ]
    )
    await ProjectionRunner(engine).catch_up()  # the `dr_events` projection the report reads
    await copy_reads(engine, trial.reads)
    members = [
        {
            "run_id": run_id,
            "customer_id": customer_id,
            "member_no": number,
            "segment": "even" if number % 2 == 0 else "odd",
            "holdout": customer_id in trial.holdout,
            "step_id": "perf",
            "track": "t",
        }
        for number, customer_id in enumerate(trial.treated + trial.holdout)
    ]
    async with engine.begin() as conn:
        await queries.record_imported_run(
            conn,
            {
                "run_id": run_id,
                "journey_id": run_id.split(":")[1],  # cohort:{journey}:{key}
                "version": 1,
                "cohort_key": dr_event_id,
                "trigger_event_id": uuid.uuid5(uuid.NAMESPACE_URL, f"test-dr/{dr_event_id}"),
                "status": "running",
                "members": len(members),
                "holdout": len(trial.holdout),
                "expected_kw": expected_kw,
                "subject": subject or {},
                "started_at": EVENT_START - timedelta(days=1),
            },
            members,
        )
