"""Writing a simulation: customer events to the event log, reads by COPY, each zone's daily mean
temperature to the weather store (as `ingest weather` would), ground truth to Parquet.

Reads are produced block by block and written as they come, so memory stays bounded however many
customers are simulated; a callback reports progress after each block.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import NewEvent
from gridjourney.simulate.utility import Simulation

SOURCE = "simulator"
NAMESPACE = uuid.UUID("0f6c2b7e-3f7d-4a55-9d3e-5a8f1e2c9b40")
EVENT_BATCH = 1000
VISIBLE_ATTRIBUTES = (
    "premise_id",
    "meter_id",
    "dwelling",
    "sqft",
    "tariff",
    "billing_cycle_day",
    "has_smart_thermostat",
    "online_account",
    "tenure_years",
    "late_payments_12m",
    "contacts_12m",
)
PROGRAMS = ("paperless", "budget_billing", "income_assistance")


def _event_id(seed: int, *parts: object) -> uuid.UUID:
    # Stable ids: re-running the same simulation appends nothing twice.
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in (seed, *parts)))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def customer_events(sim: Simulation) -> Iterator[NewEvent]:
    """customer.created (with attributes) then consent.changed per channel and purpose."""
    seed = sim.config.seed
    at = datetime.combine(sim.config.start - timedelta(days=1), time(), tzinfo=UTC)
    for row in sim.customers.to_dict("records"):
        cid = row["customer_id"]
        attributes: dict[str, Any] = {key: _plain(row[key]) for key in VISIBLE_ATTRIBUTES}
        attributes["programs"] = [p for p in PROGRAMS if row[p]]
        yield NewEvent(
            event_id=_event_id(seed, "customer.created", cid),
            type="customer.created",
            customer_id=cid,
            occurred_at=at,
            source=SOURCE,
            payload={
                "name": f"Customer {cid[4:]}",
                "phone": row["phone"],
                "email": row["email"],
                "locale": row["locale"],
                "time_zone": row["time_zone"],
                "attributes": attributes,
            },
        )
        for channel in ("sms", "email"):
            for purpose in ("marketing", "informational"):
                yield NewEvent(
                    event_id=_event_id(seed, "consent", cid, channel, purpose),
                    type="consent.changed",
                    customer_id=cid,
                    occurred_at=at,
                    source=SOURCE,
                    payload={
                        "channel": channel,
                        "purpose": purpose,
                        "granted": bool(row[f"{channel}_{purpose}"]),
                        "method": "web",
                    },
                )


def write_ground_truth(sim: Simulation, directory: Path) -> None:
    """customers (all attributes, hidden ones too), labels, anomalies, DR event days, temperatures."""
    directory.mkdir(parents=True, exist_ok=True)
    sim.customers.to_parquet(directory / "customers.parquet", index=False)
    sim.labels().to_parquet(directory / "labels.parquet", index=False)
    sim.anomalies().to_parquet(directory / "anomalies.parquet", index=False)
    pd.DataFrame({"date": sim.dr_event_dates()}).to_parquet(directory / "dr_events.parquet", index=False)
    sim.daily_temperatures().to_parquet(directory / "temperatures.parquet", index=False)
    config = pd.DataFrame([{k: str(v) for k, v in vars(sim.config).items()}])
    config.to_parquet(directory / "config.parquet", index=False)


async def write_simulation(
    sim: Simulation,
    *,
    parquet_dir: Path | None,
    engine: AsyncEngine | None,
    progress: Callable[[str, int], None] = lambda stage, done: None,
) -> int:
    """Write everything; `progress(stage, units_done)` after each batch. Returns the reads written."""
    if parquet_dir is not None:
        write_ground_truth(sim, parquet_dir)
    if engine is not None:
        from gridjourney.events.store import EventStore

        store = EventStore(engine)
        batch: list[NewEvent] = []
        for event in customer_events(sim):
            batch.append(event)
            if len(batch) == EVENT_BATCH:
                await store.append(batch)
                progress("events", len(batch))
                batch = []
        if batch:
            await store.append(batch)
            progress("events", len(batch))
        from gridjourney.weather.queries import upsert_daily

        await upsert_daily(engine, sim.weather_days())
    writer: pq.ParquetWriter | None = None
    total = 0
    try:
        for block in sim.read_blocks():
            if parquet_dir is not None:
                table = pa.Table.from_pandas(block, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(parquet_dir / "reads.parquet", table.schema)
                # One row group per block: pyarrow would otherwise cut at 1,048,576 rows, inside a
                # customer, and readers going row group by row group would see partial customers.
                writer.write_table(table, row_group_size=len(table))
            if engine is not None:
                from gridjourney.metering.store import copy_reads

                await copy_reads(engine, block)
            total += len(block)
            progress("reads", 1)
    finally:
        if writer is not None:
            writer.close()
    return total


def read_parquet_reads(directory: Path, customer_ids: list[str] | None = None) -> pd.DataFrame:
    """Reads of a Parquet simulation, optionally only some customers."""
    filters = [("customer_id", "in", customer_ids)] if customer_ids is not None else None
    return pd.read_parquet(directory / "reads.parquet", filters=filters)
