"""`gridjourney ingest greenbutton` on files from the wild: what is skipped is listed, units assumed."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_subscriptions import gridjourney
from tests.metering.espi_builder import Point, Series, espi_wild_feed

JAN1 = 1704067200


async def test_skipped_parts_are_listed_and_a_missing_unit_can_be_assumed(
    database_url: str, tmp_path: Path
) -> None:
    hours = [(JAN1 + 3600 * i, 3600, 500) for i in range(4)]
    mixed = tmp_path / "mixed.xml"
    mixed.write_bytes(espi_wild_feed([Point([Series(hours)]), Point([Series(hours, uom=169)], kind=1)]))
    no_unit = tmp_path / "no_unit.xml"
    no_unit.write_bytes(espi_wild_feed([Point([Series(hours, uom=None)])]))

    code, out = await gridjourney(
        database_url, "ingest", "greenbutton", str(mixed), str(no_unit), "--customer", "c-1"
    )
    assert code == 1, out  # one file refused
    assert "skipped entry[7]/MeterReading (entry[8]/IntervalBlock): its UsagePoint is gas" in out
    assert f"refused {no_unit}: entry[2]/MeterReading: no ReadingType" in out.replace("\n", "")
    assert "Traceback" not in out

    code, out = await gridjourney(
        database_url, "ingest", "greenbutton", str(no_unit), "--customer", "c-1", "--assume-uom", "Wh"
    )
    assert code == 0, out
    assert "newly stored" in out and "values read as Wh (--assume-uom)" in out
