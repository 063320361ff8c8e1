"""GHCN-Daily: the by-station element rows (tenths of °C) and NCEI's CSV with its unit told or stated."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest

from gridjourney.weather.importer import detect_format, parse_weather_file
from gridjourney.weather.readings import WeatherFileError

# by_station/UKM00003772.csv: ID,YYYYMMDD,ELEMENT,DATA_VALUE,M_FLAG,Q_FLAG,S_FLAG,OBS_TIME, no header.
ELEMENT_ROWS = """\
UKM00003772,20130101,TMAX,111,,,E,
UKM00003772,20130101,TMIN,39,,,E,
UKM00003772,20130101,TAVG,61,H,,S,
UKM00003772,20130101,PRCP,3,,,E,
UKM00003772,20130102,TMAX,100,,,E,
UKM00003772,20130102,TMIN,-20,,,E,
UKM00003772,20130103,TAVG,-9999,,,S,
UKM00003772,20130103,TMAX,80,,,E,
UKM00003772,20130103,TMIN,20,,G,E,
UKM00003772,2013014,TAVG,50,,,S,
UKM00003772,20130105,TAVG,5O,,,S,
"""


def test_element_rows_take_tavg_else_the_midpoint(tmp_path: Path) -> None:
    path = tmp_path / "UKM00003772.csv"
    path.write_text(ELEMENT_ROWS)
    assert detect_format(path) == "ghcn-daily"
    parsed = parse_weather_file(path, stations={})
    got: dict[object, tuple[object, object]] = {
        row.date: (row.temperature_c, row.observations) for row in parsed.days.itertuples()
    }
    # 1 Jan: TAVG 6.1 °C; 2 Jan: (10.0 + -2.0) / 2; 3 Jan: TAVG missing and TMIN failed a check.
    assert got == {date(2013, 1, 1): (pytest.approx(6.1), 1), date(2013, 1, 2): (pytest.approx(4.0), 2)}
    assert (parsed.missing_values, parsed.rejected_by_quality) == (1, 1)
    assert [issue.line for issue in parsed.issues] == [10, 11]
    assert parsed.units == "tenths of °C"


def _ncei(tmp_path: Path, header: str, rows: list[str]) -> Path:
    path = tmp_path / "ncei.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_ncei_standard_units_are_told_by_the_inches_of_rain(tmp_path: Path) -> None:
    # As Climate Data Online gives Heathrow in "standard" units: whole °F, rain in inches.
    path = _ncei(
        tmp_path,
        '"STATION","NAME","DATE","PRCP","SNWD","TAVG","TMAX","TMIN"',
        [
            '"UKM00003772","HEATHROW, UK","2013-01-01","0.10",,"43",,',
            '"UKM00003772","HEATHROW, UK","2013-01-02",,,"44","50","38"',
            '"UKM00003772","HEATHROW, UK","2013-01-03",,,,"50","32"',
        ],
    )
    parsed = parse_weather_file(path, stations={})
    assert parsed.units == "°F"
    assert parsed.days["temperature_c"].round(2).tolist() == [6.11, 6.67, 5.0]


def test_ncei_metric_raw_and_stated_units(tmp_path: Path) -> None:
    metric = _ncei(
        tmp_path, "STATION,DATE,TAVG", ["USW00094846,2013-01-01,-3.4", "USW00094846,2013-01-02,1.0"]
    )
    assert parse_weather_file(metric, stations={}).days["temperature_c"].tolist() == [-3.4, 1.0]
    raw = _ncei(
        tmp_path,
        "STATION,DATE,TAVG,TAVG_ATTRIBUTES",
        ['USW00094846,2013-07-01,256,"H,,S,"', 'USW00094846,2013-07-02,301,"H,X,S,"'],
    )
    parsed = parse_weather_file(raw, stations={})
    assert parsed.units == "tenths of °C" and parsed.days["temperature_c"].tolist() == [25.6]
    assert parsed.rejected_by_quality == 1
    stated = _ncei(tmp_path, "STATION,DATE,TAVG (°F)", ["USW00094846,2013-07-01,77"])
    assert parse_weather_file(stated, stations={}).days["temperature_c"].tolist() == [pytest.approx(25.0)]


def test_ncei_whole_numbers_of_unknown_unit_are_refused_not_guessed(tmp_path: Path) -> None:
    path = _ncei(tmp_path, "STATION,DATE,TAVG", ["USW00094846,2013-01-01,40", "USW00094846,2013-01-02,45"])
    with pytest.raises(WeatherFileError, match="--units F"):
        parse_weather_file(path, stations={})
    told = parse_weather_file(path, stations={}, units="F")
    assert told.days["temperature_c"].round(2).tolist() == [4.44, 7.22]


def test_gzipped_files_and_a_format_that_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "UKM00003772.csv.gz"
    path.write_bytes(gzip.compress(ELEMENT_ROWS.encode()))
    assert len(parse_weather_file(path, stations={}).days) == 2
    plain = _ncei(tmp_path, "date,tmean_c", ["2013-01-01,6.1"])
    with pytest.raises(WeatherFileError, match="not GHCN-Daily"):
        parse_weather_file(plain, fmt="ghcn-daily", station="S1", stations={})
    with pytest.raises(WeatherFileError, match="not NOAA Global Hourly CSV"):
        parse_weather_file(plain, fmt="noaa-global-hourly", station="S1", stations={})
