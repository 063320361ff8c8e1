"""`gridjourney tariffs validate|bills` as an operator runs them (bills against a real database)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gridjourney.cli import app
from gridjourney.events.store import EventStore
from gridjourney.metering.store import copy_reads
from gridjourney.projections.runner import ProjectionRunner
from tests.cli.in_process import gridjourney_in_process
from tests.cli.test_subscriptions import gridjourney
from tests.events.builders import new_event
from tests.tariffs.support import hourly_reads
from tests.tariffs.test_coaching import TARIFFS, YEAR

SHIPPED = Path(__file__).resolve().parents[2] / "tariffs.yaml"
runner = CliRunner()


def test_validate_the_shipped_tariffs() -> None:
    result = runner.invoke(app, ["tariffs", "validate", str(SHIPPED)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        f"{SHIPPED}: OK (USD; default residential_flat; residential_flat (flat), "
    )


def test_validate_prints_each_error_at_its_position_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "tariffs.yaml"
    bad.write_text(TARIFFS.replace('peak: "16:00-21:00"', 'peak: "16:00-22:00"'))
    result = runner.invoke(app, ["tariffs", "validate", str(bad)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        f"{bad}:15:37: overlapping hours: off_peak 21:00-24:00 and peak 16:00-22:00 "
        "(hint: give each hour of the day one period)\n"
    )


async def test_bills_of_a_customer_from_stored_reads(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    tariffs = tmp_path / "tariffs.yaml"
    tariffs.write_text(TARIFFS)
    created = new_event("customer.created", "c-1", {"name": "Ada", "time_zone": "UTC"})
    await EventStore(engine).append([created])
    await ProjectionRunner(engine).catch_up()
    reads = hourly_reads("c-1", *YEAR)
    await copy_reads(engine, reads.assign(meter_id="m-1", source="test"))
    code, out = await gridjourney(
        database_url, "tariffs", "bills", "--customer", "c-1", "--file", str(tariffs)
    )
    assert code == 0, out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "c-1: a year of bills to 2023-12-31 (USD)" in lines
    # 8,760 kWh: flat x 0.20; tou 365 x (5 x 0.40 + 19 x 0.10)
    assert any(line.startswith("│ flat (current) │ flat │ residential │ 1,752.00") for line in lines), out
    assert any(line.startswith("│ tou (best) │ time_of_use │ residential │ 1,423.50") for line in lines), out
    assert "best_tariff tou; best_tariff_savings 328.50 a year" in lines
    assert "peak_shift_kwh 200.0 a year on tou saves 60 more" in lines

    code, out = await gridjourney_in_process(
        database_url, "tariffs", "bills", "--customer", "nobody", "--file", str(tariffs)
    )
    assert (code, out) == (1, "nobody: no customer 'nobody'\n")


def test_bills_of_an_unusable_tariffs_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    result = runner.invoke(app, ["tariffs", "bills", "--customer", "c-1", "--file", str(missing)])
    assert result.exit_code == 1
    assert result.stderr == f"{missing}:1:1: cannot read the tariffs: No such file or directory\n"


async def test_a_year_of_reads_west_of_utc_is_priced_as_that_year(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    """The last read, 23:00 on 31 December in Los Angeles, is 07:00 on 1 January in UTC: the year is
    the customer's, not shifted a day and scaled up from 364 days."""
    tariffs = tmp_path / "tariffs.yaml"
    tariffs.write_text(TARIFFS)
    zone = "America/Los_Angeles"
    await EventStore(engine).append(
        [new_event("customer.created", "c-la", {"name": "Bo", "time_zone": zone})]
    )
    await ProjectionRunner(engine).catch_up()
    await copy_reads(engine, hourly_reads("c-la", *YEAR, zone=zone).assign(meter_id="m-la", source="test"))
    code, out = await gridjourney(
        database_url, "tariffs", "bills", "--customer", "c-la", "--file", str(tariffs)
    )
    assert code == 0, out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "c-la: a year of bills to 2023-12-31 (USD)" in lines, out
    assert any(line.startswith("│ flat (current) │ flat │ residential │ 1,752.00") for line in lines), out
