"""Green Button import against the real ESPI sample and hand-made files, on a real Postgres."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import events, meter_reads
from gridjourney.events.store import CustomerErased, EventStore
from gridjourney.metering.greenbutton import GreenButtonError, import_greenbutton, parse_greenbutton
from gridjourney.metering.store import load_reads
from gridjourney.privacy.erasure import erase_customer
from tests.metering.espi_builder import Point, Series, espi_feed, espi_wild_feed

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


async def test_two_concurrent_imports_of_one_file_write_one_event(engine: AsyncEngine) -> None:
    data = SAMPLE.read_bytes()
    reports = await asyncio.gather(*(import_greenbutton(engine, data, "cust-1") for _ in range(2)))
    assert sorted(report.already_imported for report in reports) == [False, True]
    assert await _counts(engine) == (8760, 1)


async def test_an_erased_customer_gets_no_reads(engine: AsyncEngine) -> None:
    await import_greenbutton(engine, SAMPLE, "cust-1")
    assert await erase_customer(engine, EventStore(engine), "cust-1") is not None
    with pytest.raises(CustomerErased):
        await import_greenbutton(engine, SAMPLE, "cust-1")
    with pytest.raises(CustomerErased):
        await import_greenbutton(engine, espi_feed([(1420070400, 3600, 500)]), "cust-1")
    assert await _counts(engine) == (0, 1)  # the erasure deleted their reads; the summary event stays


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


# 2024-11-03 04:00 UTC is local midnight in New York (EDT); DST ends at 06:00 UTC (01:00 twice).
NOV3 = 1730606400


async def test_gaps_duplicates_negatives_and_dst_repeats_are_flagged_not_dropped(engine: AsyncEngine) -> None:
    hours: list[tuple[int, ...]] = [
        (NOV3 + h * 3600, 3600, 1000 + h) for h in range(8) if h != 5
    ]  # 09:00 missing
    hours += [(NOV3 + 7 * 3600, 3600, 999)]  # a conflicting repeat of the last hour
    hours += [(NOV3 + 8 * 3600, 3600, -250, 14), (NOV3 + 9 * 3600, 3600, -150)]  # negative run
    parsed = parse_greenbutton(espi_feed(hours, power_of_ten=-1), "c")
    kinds = [(i.kind, i.count) for i in parsed.issues]
    assert sorted(kinds) == [("dst_repeat", 2), ("duplicate", 1), ("gap", 1), ("negative", 2)]
    by_kind = {i.kind: i for i in parsed.issues}
    assert by_kind["gap"].start == pd.Timestamp(NOV3 + 5 * 3600, unit="s", tz="UTC")
    assert by_kind["duplicate"].detail == "repeated read: 0.0999 kWh, while 0.1007 kWh was kept"
    # Local 01:00 is 05:00 UTC (EDT) and again 06:00 UTC (EST).
    assert by_kind["dst_repeat"].start == pd.Timestamp(NOV3 + 3600, unit="s", tz="UTC")
    assert by_kind["negative"].detail.startswith("2 negative read(s), -0.040 kWh")
    reads = parsed.reads.set_index("read_at")
    assert len(reads) == 9  # 7 + 2 negative; the duplicate's first value kept
    assert reads.loc[pd.Timestamp(NOV3 + 7 * 3600, unit="s", tz="UTC"), "kwh"] == pytest.approx(0.1007)
    assert reads.loc[pd.Timestamp(NOV3 + 8 * 3600, unit="s", tz="UTC"), "quality"] == 14
    report = await import_greenbutton(engine, espi_feed(hours, power_of_ten=-1), "c")
    assert report.reads_stored == 9 and report.issue_counts == {
        "gap": 1,
        "duplicate": 1,
        "negative": 1,
        "dst_repeat": 1,
    }


@pytest.mark.parametrize(
    ("data", "element", "reason"),
    [
        (
            espi_feed([(NOV3, 3600, 5)]).replace(b"</IntervalBlock>", b""),
            "feed/entry/content",
            "mismatched tag",
        ),
        (espi_feed([(NOV3, 3600, 5)], uom=169), "ReadingType/uom", "uom 169 (therm) is not electric energy"),
        (espi_feed([(NOV3, 3600, 5)], uom=999), "ReadingType/uom", "uom 999 is not a known unit"),
        (espi_feed([(NOV3, 3600, 5)], flow_direction=20), "ReadingType/flowDirection", "neither forward"),
        (
            espi_feed([(NOV3, 3600, 5)]).replace(b"<value>5<", b"<value>5.5<"),
            "IntervalReading[1]/value",
            "not an integer",
        ),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><feed/>', "DOCTYPE", "refused"),
    ],
)
async def test_refused_files_store_nothing(
    engine: AsyncEngine, data: bytes, element: str, reason: str
) -> None:
    good = espi_feed([(NOV3 - 3600, 3600, 5)])
    await import_greenbutton(engine, good, "c")
    with pytest.raises(GreenButtonError) as refused:
        await import_greenbutton(engine, data, "c")
    assert element in refused.value.element and reason in refused.value.reason
    assert await _counts(engine) == (1, 1)


PGE_CSV = """Name,JANE DOE
Address,"1 MAIN ST, SAN FRANCISCO CA 94105"
Account Number,1234567890
Service,Service 1

TYPE,DATE,START TIME,END TIME,IMPORT (kWh),EXPORT (kWh),NOTES
Electric usage,2024-11-03,00:00,00:59,0.50,0.00,
Electric usage,2024-11-03,01:00,01:59,0.40,0.00,
Electric usage,2024-11-03,01:00,01:59,0.30,0.00,
Electric usage,2024-11-03,02:00,02:59,0.20,0.00,
Electric usage,2024-11-03,12:00,12:59,0.10,1.60,
"""


async def test_csv_with_import_and_export_columns(engine: AsyncEngine) -> None:
    report = await import_greenbutton(engine, PGE_CSV.encode(), "c", time_zone="America/Los_Angeles")
    assert report.format == "csv" and report.reads_stored == 5 and report.interval_seconds == [3600]
    assert report.total_kwh == pytest.approx(0.5 + 0.4 + 0.3 + 0.2 + 0.1 - 1.6)
    assert report.meter_ids == ["c:Service-1"]
    assert report.issue_counts == {"dst_repeat": 1, "gap": 1, "negative": 1}
    reads = (await load_reads(engine)).set_index("read_at")["kwh"]
    # Local 01:00 twice: first PDT (08:00 UTC), then PST (09:00 UTC).
    assert reads[pd.Timestamp("2024-11-03 08:00", tz="UTC")] == pytest.approx(0.4)
    assert reads[pd.Timestamp("2024-11-03 09:00", tz="UTC")] == pytest.approx(0.3)
    assert reads[pd.Timestamp("2024-11-03 20:00", tz="UTC")] == pytest.approx(-1.5)


async def test_csv_without_a_known_time_zone_or_with_gas_units_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(GreenButtonError, match="time zone"):
        await import_greenbutton(engine, PGE_CSV.encode(), "unknown-customer")
    gas = "TYPE,DATE,START TIME,END TIME,USAGE,UNITS\nNatural gas usage,2024-01-01,00:00,23:59,1.2,therms\n"
    with pytest.raises(GreenButtonError, match="'therms' is not electric energy"):
        await import_greenbutton(engine, gas.encode(), "c", time_zone="UTC")
    assert await _counts(engine) == (0, 0)


@pytest.mark.parametrize(
    "row,refusal",
    [
        ("Electric usage,0001-01-01,00:00,00:59,1.0,kWh", "outside 1900-2200"),
        ("Electric usage,9999-12-31,00:00,00:59,1.0,kWh", "outside 1900-2200"),
        ("Electric usage,2025-01-01,00:00,00:59,Infinity,kWh", "not a finite energy"),
        ("Electric usage,2025-01-01,00:00,00:59,1e400,kWh", "not a finite energy"),
        ("Electric usage,2025-01-01,00:00,00:59,2000000,kWh", "not a finite energy"),
    ],
)
async def test_csv_reads_no_table_or_fold_can_hold_are_refused(
    engine: AsyncEngine, row: str, refusal: str
) -> None:
    csv = f"TYPE,DATE,START TIME,END TIME,USAGE,UNITS\n{row}\n"
    with pytest.raises(GreenButtonError, match=refusal):
        await import_greenbutton(engine, csv.encode(), "c", time_zone="UTC")
    assert await _counts(engine) == (0, 0)


@pytest.mark.parametrize(
    "reading,refusal",
    [
        ((253402214400, 3600, 500), "outside 1900-2200"),  # 9999-12-31
        ((1420070400, 3600, 10**18), "not a finite energy"),
    ],
)
async def test_espi_reads_no_table_or_fold_can_hold_are_refused(
    engine: AsyncEngine, reading: tuple[int, int, int], refusal: str
) -> None:
    with pytest.raises(GreenButtonError, match=refusal):
        await import_greenbutton(engine, espi_feed([reading]), "c")
    assert await _counts(engine) == (0, 0)


@pytest.mark.parametrize("customer_id", ["C" * 101, "C\x00X", "", "-leading-dash"])
async def test_a_customer_id_the_log_cannot_hold_is_refused(engine: AsyncEngine, customer_id: str) -> None:
    with pytest.raises(GreenButtonError, match="customer ids match"):
        await import_greenbutton(engine, SAMPLE, customer_id)
    assert await _counts(engine) == (0, 0)


async def test_a_mixed_electric_and_gas_file_imports_the_electricity_and_reports_the_gas(
    engine: AsyncEngine,
) -> None:
    hours = [(NOV3 + 3600 * i, 3600, 400 + i) for i in range(5)]
    data = espi_wild_feed([Point([Series(hours)]), Point([Series(hours[:3], uom=169)], kind=1)])
    report = await import_greenbutton(engine, data, "c")
    assert report.reads_stored == 5 and report.total_kwh == pytest.approx(sum(v for *_, v in hours) / 1000)
    assert report.meter_ids == ["c:1"]
    [part] = report.skipped
    assert part.readings == 3 and "gas (ServiceCategory kind 1)" in part.reason
    assert report.issue_counts == {"skipped_parts": 1}
    assert await _counts(engine) == (5, 1)


async def test_blocks_without_a_reading_type_import_only_with_an_assumed_unit(engine: AsyncEngine) -> None:
    data = espi_wild_feed([Point([Series([(NOV3, 3600, 1250), (NOV3 + 3600, 3600, 750)], uom=None)])])
    with pytest.raises(GreenButtonError, match="no ReadingType"):
        await import_greenbutton(engine, data, "c")
    assert await _counts(engine) == (0, 0)
    report = await import_greenbutton(engine, data, "c", assume_uom="Wh")
    assert report.reads_stored == 2 and report.total_kwh == pytest.approx(2.0)
    assert report.notes == ["entry[2]/MeterReading: no ReadingType; values read as Wh (--assume-uom)"]


async def test_a_csv_export_with_gas_rows_imports_the_electricity(engine: AsyncEngine) -> None:
    mixed = (
        "TYPE,DATE,START TIME,END TIME,USAGE,UNITS\n"
        "Electric usage,2024-01-01,00:00,00:59,1.5,kWh\n"
        "Natural gas usage,2024-01-01,00:00,23:59,1.2,therms\n"
        "Electric usage,2024-01-01,01:00,01:59,0.5,kWh\n"
        "Electric usage,2024-01-01,02:00,02:59,x,kWh\n"
    )
    with pytest.raises(GreenButtonError) as refused:
        await import_greenbutton(engine, mixed.encode(), "c", time_zone="UTC")
    assert refused.value.line == 5  # the line in the file, the gas row counted
    report = await import_greenbutton(engine, mixed.replace(",x,", ",0.25,").encode(), "c", time_zone="UTC")
    assert report.reads_stored == 3 and report.total_kwh == pytest.approx(2.25)
    [part] = report.skipped
    assert part.element == "rows of Natural gas usage from line 3" and part.readings == 1
    assert "'therms' is not electric energy" in part.reason


@pytest.mark.parametrize("empty", [b"", b"  \n", b"\xef\xbb\xbf\n"])
def test_an_empty_file_is_said_to_be_empty(empty: bytes) -> None:
    with pytest.raises(GreenButtonError) as refused:
        parse_greenbutton(empty, "c-1")
    assert (refused.value.element, refused.value.reason) == ("file", "the file is empty")
