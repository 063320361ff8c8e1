"""meter_reads: COPY loading, idempotent re-loads, monthly partitions, reading back."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.metering.store import copy_reads, load_reads, months_spanned


def _reads(customer: str, meter: str, start: str, periods: int, kwh: float = 0.25) -> pd.DataFrame:
    read_at = pd.date_range(start, periods=periods, freq="15min", tz="UTC")
    return pd.DataFrame(
        {
            "customer_id": customer,
            "meter_id": meter,
            "read_at": read_at,
            "interval_seconds": 900,
            "kwh": [kwh + i / 1000 for i in range(periods)],
            "quality": [None if i % 2 else 0 for i in range(periods)],
            "source": "test",
        }
    )


def test_months_spanned_crosses_the_year() -> None:
    months = months_spanned(datetime(2024, 11, 30, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    assert [m.strftime("%Y-%m") for m in months] == ["2024-11", "2024-12", "2025-01", "2025-02"]


async def test_copy_is_idempotent_and_partitioned_by_month(engine: AsyncEngine) -> None:
    # 2024-01-31 22:00 UTC plus 16 quarter-hours crosses into February: two partitions.
    first = _reads("c1", "m1", "2024-01-31 22:00", 16)
    assert await copy_reads(engine, first) == 16
    assert await copy_reads(engine, first) == 0
    overlapping = _reads("c1", "m1", "2024-02-01 01:00", 8)  # 4 already stored, 4 new
    assert await copy_reads(engine, overlapping, import_id="imp-2") == 4
    async with engine.connect() as conn:
        partitions = (
            (
                await conn.execute(
                    text(
                        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "ORDER BY c.relname"
                    )
                )
            )
            .scalars()
            .all()
        )
        rows = await conn.execute(
            text("SELECT tableoid::regclass::text, count(*) FROM meter_reads GROUP BY 1")
        )
        per_partition: dict[str, int] = {name: count for name, count in rows}
    assert "meter_reads_2024_01" in partitions and "meter_reads_2024_02" in partitions
    assert per_partition == {"meter_reads_2024_01": 8, "meter_reads_2024_02": 12}

    loaded = await load_reads(engine, customer_ids=["c1"])
    assert len(loaded) == 20
    assert str(loaded["read_at"].dt.tz) == "UTC"
    assert loaded["read_at"].iloc[0] == pd.Timestamp("2024-01-31 22:00", tz="UTC")
    assert loaded["kwh"].iloc[1] == 0.251
    assert loaded["quality"].iloc[0] == 0 and pd.isna(loaded["quality"].iloc[1])
    # The first load's rows were kept as they were (no import id); the overlap added four new ones.
    assert loaded["import_id"].isna().sum() == 16
    assert (loaded["import_id"] == "imp-2").sum() == 4


async def test_load_reads_filters_by_customer_and_time(engine: AsyncEngine) -> None:
    await copy_reads(
        engine, pd.concat([_reads("a", "ma", "2024-03-01", 8), _reads("b", "mb", "2024-03-01", 8)])
    )
    window = await load_reads(
        engine,
        customer_ids=["b"],
        start=datetime(2024, 3, 1, 0, 30, tzinfo=UTC),
        end=datetime(2024, 3, 1, 1, 30, tzinfo=UTC),
    )
    assert list(window["customer_id"].unique()) == ["b"]
    assert len(window) == 4
    assert len(await load_reads(engine)) == 16
    empty = await load_reads(engine, customer_ids=["nobody"])
    assert empty.empty and list(empty.columns)[:3] == ["customer_id", "meter_id", "read_at"]


async def test_naive_timestamps_are_refused(engine: AsyncEngine) -> None:
    reads = _reads("c", "m", "2024-01-01", 2)
    reads["read_at"] = reads["read_at"].dt.tz_localize(None)
    try:
        await copy_reads(engine, reads)
    except ValueError as exc:
        assert "time-zone aware" in str(exc)
    else:
        raise AssertionError("naive timestamps were accepted")
