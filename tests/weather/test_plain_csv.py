"""Plain CSVs of station, time and temperature, and the real Heathrow 2013 file."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from gridjourney.weather.importer import detect_format, parse_weather_file
from gridjourney.weather.readings import WeatherFileError

HEATHROW_2013 = Path(__file__).parent / "data" / "london_2013_temperature.csv"


def test_the_heathrow_2013_file_gives_its_degree_days() -> None:
    assert detect_format(HEATHROW_2013) == "plain"
    parsed = parse_weather_file(HEATHROW_2013, station="UKM00003772", stations={})
    days = parsed.days
    assert len(days) == 365 and parsed.issues == []
    assert days["date"].iloc[0] == date(2013, 1, 1) and days["date"].iloc[-1] == date(2013, 12, 31)
    assert parsed.units == "°C"  # from tmean_c; tmin_c and tmax_c are not means
    hdd = (15.5 - days["temperature_c"]).clip(lower=0).sum()
    cdd = (days["temperature_c"] - 18.0).clip(lower=0).sum()
    assert round(hdd) == 1986 and round(cdd) == 135  # the data's README: ≈ 1,986 and ≈ 135


def test_without_a_station_the_file_is_refused_by_name() -> None:
    with pytest.raises(WeatherFileError, match=r"station column \(or give --station\)"):
        parse_weather_file(HEATHROW_2013, stations={})


def test_hourly_rows_in_fahrenheit_stated_in_the_header(tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    rows = ["station,time,temperature (°F)"]
    rows += [f"KORD,2013-01-10T{h:02d}:00:00-06:00,{32 + h}" for h in range(24)]
    rows += ["KORD,2013-01-11T00:00:00-06:00,"]  # missing
    rows += ["KORD,yesterday,40", "KORD,2013-01-11T01:00:00-06:00,4o"]
    path.write_text("\n".join(rows) + "\n")
    parsed = parse_weather_file(path, stations={"America/Chicago": "KORD"})
    assert parsed.units == "°F"
    [day] = parsed.days.itertuples()
    assert day.date == date(2013, 1, 10)
    assert day.temperature_c == pytest.approx((32 + 11.5 - 32) / 1.8)
    assert day.observations == 24
    assert parsed.missing_values == 1
    assert [(i.line, i.message.split(" ")[0]) for i in parsed.issues if i.line] == [
        (27, "time"),
        (28, "temperature"),
    ]


def test_an_unstated_unit_is_celsius_and_said_so_and_implausible_values_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "daily.csv"
    path.write_text(
        "station_id,date,temp\nA1,2024-05-01,14.5\nA1,2024-05-02,58.1\nA1,2024-05-02,12\nA1,2024-05-03,91\n"
    )
    parsed = parse_weather_file(path, stations={})
    assert parsed.units == "°C (not stated in the header: assumed)"
    assert parsed.days["temperature_c"].tolist() == [14.5, 58.1]
    # 91 is °F by the look of it, but the header does not say so: reported, not converted.
    assert [(i.line, "plausible" in i.message or "given 2 times" in i.message) for i in parsed.issues] == [
        (4, True),
        (5, True),
    ]


# A linear read of the header takes milliseconds; the quadratic regex it replaced took minutes on this
# cell (4 s at 20 KB, growing with the square): a bound for a runaway, not a measurement.
GENEROUS_S = 120
READ_IN_A_CHILD = """
import sys
from pathlib import Path
from gridjourney.weather.importer import parse_weather_file
parsed = parse_weather_file(Path(sys.argv[1]), stations={"America/Chicago": "KORD"})
print(parsed.units, len(parsed.days))
"""


def test_a_header_cell_of_120_kb_is_read_in_one_pass(tmp_path: Path) -> None:
    # The csv module's field limit is 128 KB; separators with no unit after them, in a column to ignore.
    path = tmp_path / "obs.csv"
    rows = ["station,time," + "_" * 120_000 + "x,temperature (°F)"]
    rows += [f"KORD,2013-01-10T{h:02d}:00:00-06:00,1,{32 + h}" for h in range(24)]
    path.write_text("\n".join(rows) + "\n")
    done = subprocess.run(
        [sys.executable, "-c", READ_IN_A_CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=GENEROUS_S,
        check=True,
    )
    assert done.stdout.split() == ["°F", "1"]


@pytest.mark.parametrize(
    ("header", "value", "unit"),
    [
        ("tmean_c", "14.5", "°C"),
        ("temp_(°f)", "58.1", "°F"),
        ("temperature [degk]", "287.65", "K"),
        ("mean_temp__", "14.5", "°C (not"),
    ],
)
def test_the_temperature_column_is_found_with_its_unit(
    tmp_path: Path, header: str, value: str, unit: str
) -> None:
    path = tmp_path / "daily.csv"
    path.write_text(f"station_id,date,{header}\nA1,2024-05-01,{value}\n")
    parsed = parse_weather_file(path, stations={})
    assert parsed.units.startswith(unit)
    assert parsed.days["temperature_c"].tolist() == [pytest.approx(14.5)]
