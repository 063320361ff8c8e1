"""import_weather: parse, store, report; importing again changes nothing; scoring reads it by zone."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.weather.importer import FORMATS, import_weather, parse_weather_file
from gridjourney.weather.queries import daily_temperatures
from gridjourney.weather.readings import WeatherFileError

HEATHROW_2013 = Path(__file__).parent / "data" / "london_2013_temperature.csv"
LONDON = {"Europe/London": "UKM00003772"}


async def test_import_is_idempotent_and_reaches_daily_temperatures(engine: AsyncEngine) -> None:
    report = await import_weather(engine, HEATHROW_2013, station="UKM00003772", stations=LONDON)
    [summary] = report.stations
    assert (summary.station_id, summary.days, summary.first, summary.last) == (
        "UKM00003772",
        365,
        date(2013, 1, 1),
        date(2013, 12, 31),
    )
    assert (summary.inserted, summary.updated) == (365, 0)
    again = await import_weather(engine, HEATHROW_2013, station="UKM00003772", stations=LONDON)
    assert again.days == 365 and again.changed == 0

    january = await daily_temperatures(
        engine, ["Europe/London"], date(2013, 1, 1), date(2013, 1, 31), stations=LONDON
    )
    assert len(january) == 31
    assert january["temperature_c"].mean() == pytest.approx(4.53, abs=0.01)  # the data's README


async def test_a_corrected_file_updates_only_the_days_it_changes(engine: AsyncEngine, tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text("station,date,tmean_c\nS1,2024-01-01,1.5\nS1,2024-01-02,2.5\n")
    await import_weather(engine, first, stations={})
    corrected = tmp_path / "b.csv"
    corrected.write_text("station,date,tmean_c\nS1,2024-01-02,3.0\nS1,2024-01-03,4.0\n")
    report = await import_weather(engine, corrected, stations={})
    [summary] = report.stations
    assert (summary.inserted, summary.updated) == (1, 1)


async def test_a_file_that_is_not_weather_is_refused_whole(engine: AsyncEngine, tmp_path: Path) -> None:
    path = tmp_path / "reads.csv"
    path.write_text("meter,read_at,kwh\nM1,2024-01-01T00:00:00Z,0.4\n")
    with pytest.raises(WeatherFileError, match=r"no column for a time or date and a mean temperature"):
        await import_weather(engine, path, station="S1", stations={})
    assert (
        await daily_temperatures(engine, ["X"], date(2024, 1, 1), date(2024, 1, 2), stations={"X": "S1"})
    ).empty


def test_days_that_cannot_be_observations_are_reported_not_stored(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("station,date,tmean_c\nS1,0001-01-01,3\nS1,2024-01-01,1.5\nS1,9999-12-31,5\n")
    parsed = parse_weather_file(path, stations={})
    assert [str(d) for d in parsed.days["date"]] == ["2024-01-01"]
    assert [issue.message.split(":")[0] for issue in parsed.issues] == ["S1 0001-01-01", "S1 9999-12-31"]


def test_a_bad_zone_or_unit_is_one_line() -> None:
    with pytest.raises(WeatherFileError, match="'Mars/Olympus' is not an IANA time zone"):
        parse_weather_file(HEATHROW_2013, station="S1", time_zone="Mars/Olympus", stations={})
    with pytest.raises(WeatherFileError, match="unknown units 'R'"):
        parse_weather_file(HEATHROW_2013, station="S1", units="R", stations={})


# (NOAA Global Hourly refuses these by their header first, in one line too)
@pytest.mark.parametrize("fmt", [fmt for fmt in FORMATS if fmt != "noaa-global-hourly"])
@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            'station,time,temp\nS1,2026-01-01T00:00:00Z,"' + "5" * 200_000 + '"\n',
            2,
        ),  # a 200,000-character cell
        ("station,time,temp" + "(" * 300_000 + "\nS1,2026-01-01T00:00:00Z,5\n", 1),
    ],
)
def test_a_cell_the_csv_reader_cannot_hold_is_one_line_naming_it(
    tmp_path: Path, fmt: str, text: str, line: int
) -> None:
    # The csv module stops at 128 KiB a cell with _csv.Error: it was a traceback for any format.
    path = tmp_path / "huge.csv"
    path.write_text(text)
    with pytest.raises(WeatherFileError, match=rf"^line {line}: not readable as CSV \(field larger than"):
        parse_weather_file(path, fmt=fmt, station="S1", stations={})
