"""Green Button import against the real ESPI sample and hand-made files, on a real Postgres."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import events, meter_reads
from gridjourney.metering.greenbutton import import_greenbutton
from gridjourney.metering.store import load_reads

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "coastal_multi_family_hourly_2011.xml"


async def _counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        reads = await conn.scalar(select(func.count()).select_from(meter_reads))
        logged = await conn.scalar(
            select(func.count()).select_from(events).where(events.c.type == "meter.reads_imported")
        )
    return int(reads or 0), int(logged or 0)


def _raw_values() -> list[int]:
    """The sample's IntervalReading values, read with a regex (independently of the importer)."""
    text = SAMPLE.read_text()
    return [int(v) for v in re.findall(r"<IntervalReading>.*?<value>(-?\d+)</value>", text, flags=re.S)]


async def test_the_real_sample_gives_8760_hourly_reads_and_its_kwh(engine: AsyncEngine) -> None:
    values = _raw_values()
    assert len(values) == 8760
    report = await import_greenbutton(engine, SAMPLE, "cust-1")
    assert report.reads_in_file == report.reads_stored == 8760
    assert report.interval_seconds == [3600]
    assert report.total_kwh == pytest.approx(sum(values) / 1000)  # uom 72 = Wh, multiplier 0
    assert report.first_read_at == pd.Timestamp("2011-01-01 08:00", tz="UTC")  # local midnight, UTC-8
    assert report.last_read_at == pd.Timestamp("2012-01-01 07:00", tz="UTC")
    # The file is complete; it spans the 2011 autumn DST change (local 01:00 on 6 November, twice).
    assert report.issue_counts == {"dst_repeat": 1}
    assert report.issues[0].start == pd.Timestamp("2011-11-06 08:00", tz="UTC")

    reads = (await load_reads(engine, customer_ids=["cust-1"])).set_index("read_at")
    assert len(reads) == 8760 and reads["meter_id"].unique().tolist() == ["cust-1:1"]
    assert reads["kwh"].sum() == pytest.approx(sum(values) / 1000)
    # Hand-picked from the file: the first three readings and the very last one.
    assert reads.loc[pd.Timestamp(1293868800, unit="s", tz="UTC"), "kwh"] == pytest.approx(0.450)
    assert reads.loc[pd.Timestamp(1293872400, unit="s", tz="UTC"), "kwh"] == pytest.approx(0.430)
    assert reads.loc[pd.Timestamp(1293876000, unit="s", tz="UTC"), "kwh"] == pytest.approx(0.418)
    assert reads.loc[pd.Timestamp(1325401200, unit="s", tz="UTC"), "kwh"] == pytest.approx(0.482)
    assert await _counts(engine) == (8760, 1)


async def test_reimporting_the_same_file_changes_nothing(engine: AsyncEngine) -> None:
    first = await import_greenbutton(engine, SAMPLE, "cust-1")
    again = await import_greenbutton(engine, SAMPLE.read_bytes(), "cust-1")
    assert again.event_id == first.event_id and again.already_imported and not first.already_imported
    assert again.reads_stored == 0 and again.reads_already_stored == 8760
    assert await _counts(engine) == (8760, 1)


async def test_an_overlapping_file_merges(engine: AsyncEngine) -> None:
    text = SAMPLE.read_text()
    blocks = re.findall(
        r"<entry>\s*<id>[^<]*</id>\s*<link rel=\"self\" href=\"[^\"]*IntervalBlock/.*?</entry>", text, re.S
    )
    assert len(blocks) == 730  # 12-hour blocks
    head, tail = text.split(blocks[0], 1)[0], text.split(blocks[-1], 1)[1]
    january = head + "".join(blocks[:62]) + tail  # 1-31 January
    later = head + "".join(blocks[40:120]) + tail  # 21 January to 1 March: 22 blocks overlap
    one = await import_greenbutton(engine, january.encode(), "cust-1")
    two = await import_greenbutton(engine, later.encode(), "cust-1")
    assert (one.reads_stored, two.reads_in_file, two.reads_stored) == (744, 960, 960 - 22 * 12)
    assert two.reads_already_stored == 22 * 12
    assert await _counts(engine) == (744 + 960 - 22 * 12, 2)
