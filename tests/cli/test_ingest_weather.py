"""`gridjourney ingest weather FILE` against a real database, in the test's process (the ingest
commands as installed: tests/cli/test_ingest_greenbutton.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridjourney.cli import app
from tests.cli.in_process import gridjourney_in_process

HEATHROW_2013 = Path(__file__).resolve().parents[1] / "weather" / "data" / "london_2013_temperature.csv"


async def test_ingest_weather_prints_what_it_stored_and_changes_nothing_the_second_time(
    database_url: str,
) -> None:
    args = ("ingest", "weather", str(HEATHROW_2013), "--station", "UKM00003772")
    code, out = await gridjourney_in_process(database_url, *args)
    assert code == 0, out
    assert "london_2013_temperature.csv (plain, °C)" in out
    assert "UKM00003772" in out and "365" in out and "2013-01-01" in out and "2013-12-31" in out
    code, again = await gridjourney_in_process(database_url, *args)
    assert code == 0, again
    assert "already stored: nothing changed" in again


async def test_bad_files_and_options_are_one_line_naming_the_file(database_url: str, tmp_path: Path) -> None:
    code, out = await gridjourney_in_process(database_url, "ingest", "weather", str(HEATHROW_2013))
    assert code == 1 and "Traceback" not in out
    assert f"refused {HEATHROW_2013}: no column for a station column (or give --station)" in out.replace(
        "\n", ""
    )

    bad_rows = tmp_path / "obs.csv"
    bad_rows.write_text(
        "station,date,temperature_c\nS1,2024-01-01,3.5\nS1,2024-01-0x,4\nS1,2024-01-03,warm\n"
    )
    code, out = await gridjourney_in_process(database_url, "ingest", "weather", str(bad_rows))
    assert code == 0, out
    assert "obs.csv line 3: time '2024-01-0x'" in out and "obs.csv line 4: temperature 'warm'" in out


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (("--format", "isd"), "--format must be one of auto, noaa-global-hourly, ghcn-daily, plain"),
        (("--units", "R"), "--units must be one of auto, C, F, K, tenths-C"),
        (("--time-zone", "Europe/Londres"), "--time-zone 'Europe/Londres' is not an IANA time zone"),
    ],
)
def test_bad_options_are_refused_before_anything_is_read(option: tuple[str, str], message: str) -> None:
    result = CliRunner().invoke(
        app, ["ingest", "weather", str(HEATHROW_2013), *option], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2 and message in result.output
