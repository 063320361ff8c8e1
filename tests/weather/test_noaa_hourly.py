"""NOAA Global Hourly (ISD) CSV as NCEI's access service writes it: TMP in tenths of °C, quality code."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gridjourney.weather.importer import detect_format, parse_weather_file

HEADER = (
    '"STATION","DATE","SOURCE","LATITUDE","LONGITUDE","ELEVATION","NAME","REPORT_TYPE","CALL_SIGN",'
    '"QUALITY_CONTROL","WND","CIG","VIS","TMP","DEW","SLP"'
)


def _row(at: str, tmp: str, report_type: str = "FM-15", station: str = "03772099999") -> str:
    return (
        f'"{station}","{at}","4","51.4775","-0.461389","25.3","HEATHROW, UK","{report_type}","EGLL ",'
        f'"V020","230,1,N,0077,1","00600,1,C,N","009000,1,9,9","{tmp}","+0060,1","10132,1"'
    )


def _write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "03772099999.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_hours_are_averaged_then_the_day(tmp_path: Path) -> None:
    rows = [_row(f"2013-01-15T{h:02d}:50:00", f"+{h * 10:04d},1") for h in range(24)]  # 0 .. 23 °C
    # A burst of special reports in hour 23 (-10 °C) makes one hour's mean, (23 - 5 * 10) / 6.
    rows += [_row("2013-01-15T23:20:00", "-0100,5", "FM-16") for _ in range(5)]
    path = _write(tmp_path, rows)
    assert detect_format(path) == "noaa-global-hourly"
    parsed = parse_weather_file(path, stations={})
    [day] = parsed.days.itertuples()
    assert (day.station_id, day.date) == ("03772099999", date(2013, 1, 15))
    assert day.temperature_c == pytest.approx((sum(range(23)) + (23 - 50) / 6) / 24)
    assert day.observations == 29
    assert parsed.issues == []


def test_missing_suspect_summary_and_malformed_rows(tmp_path: Path) -> None:
    rows = [_row(f"2013-01-16T{h:02d}:50:00", "+0050,1") for h in range(24)]
    rows[3] = _row("2013-01-16T03:50:00", "+9999,9")  # missing
    rows[4] = _row("2013-01-16T04:50:00", "+0990,3")  # erroneous: 99 °C would shift the mean
    rows[5] = _row("2013-01-16T05:50:00", "+0990,7")
    rows.append(_row("2013-01-16T23:59:00", "+9999,9", "SOD  "))  # a daily summary row
    rows.append(_row("2013-01-16T12:10:00", "12.3"))  # not the TMP layout
    path = _write(tmp_path, rows)
    parsed = parse_weather_file(path, stations={})
    assert (parsed.missing_values, parsed.rejected_by_quality) == (1, 2)
    assert parsed.days["temperature_c"].tolist() == [pytest.approx(5.0)]
    assert parsed.days["observations"].tolist() == [21]
    [issue] = parsed.issues
    assert issue.line == 27 and "TMP '12.3'" in issue.message


def test_days_follow_the_stations_zone_and_thin_days_are_not_stored(tmp_path: Path) -> None:
    # London summer time is UTC+1: 23:30 UTC on 30 June is 1 July locally.
    rows = [_row(f"2013-06-30T{h:02d}:30:00", "+0200,1") for h in range(23)]
    rows += [_row("2013-06-30T23:30:00", "+0100,1")]
    rows += [_row("2013-07-01T00:30:00", "+0100,1")]
    path = _write(tmp_path, rows)
    london = parse_weather_file(path, stations={"Europe/London": "03772099999"})
    assert london.days["date"].tolist() == [date(2013, 6, 30)]
    assert london.days["temperature_c"].tolist() == [pytest.approx(20.0)]
    # 1 July has two readings (two three-hour blocks): reported, not stored as if it were a day.
    assert any("2013-07-01: readings in 1 of 8" in issue.message for issue in london.issues)
    utc = parse_weather_file(path, stations={}, station="EGLL")
    assert utc.days["date"].tolist() == [date(2013, 6, 30)]
    assert utc.days["station_id"].tolist() == ["EGLL"]
    assert utc.days["temperature_c"].tolist() == [pytest.approx((23 * 20.0 + 10.0) / 24)]
