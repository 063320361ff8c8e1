"""`gridjourney ingest weather FILE`: tell the format, parse, store the daily means, report.

Hourly readings become days in the local time of the zone the `weather_stations` setting maps the
station to (UTC when it maps none, or several different zones), unless a zone is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import available_timezones

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.weather import ghcn_daily, noaa_hourly, plain_csv
from gridjourney.weather.queries import upsert_daily
from gridjourney.weather.readings import ParsedWeather, RowIssue, WeatherFileError, csv_rows, open_text
from gridjourney.weather.stations import StationMappingError, check_station_id, zones_of

FORMATS = ("auto", "noaa-global-hourly", "ghcn-daily", "plain")
UNITS = ("auto", "C", "F", "K", "tenths-C")


@dataclass(frozen=True)
class StationSummary:
    station_id: str
    days: int
    first: date
    last: date
    inserted: int
    updated: int


@dataclass
class WeatherImportReport:
    file_name: str
    format: str
    units: str
    stations: list[StationSummary] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)
    rejected_by_quality: int = 0
    missing_values: int = 0

    @property
    def days(self) -> int:
        return sum(s.days for s in self.stations)

    @property
    def changed(self) -> int:
        return sum(s.inserted + s.updated for s in self.stations)


def detect_format(path: Path) -> str:
    first = next(csv_rows(open_text(path)), None)
    if first is None:
        raise WeatherFileError("the file is empty")
    cells = first[1]
    if noaa_hourly.looks_like(cells):
        return noaa_hourly.FORMAT
    if ghcn_daily.looks_like_element_rows(cells) or ghcn_daily.looks_like_ncei(cells):
        return ghcn_daily.FORMAT
    return plain_csv.FORMAT


def _zone_resolver(time_zone: str | None, stations: Mapping[str, str]) -> Callable[[str], str]:
    def zone_of(station_id: str) -> str:
        if time_zone:
            return time_zone
        zones = [z for z in zones_of(station_id, stations) if "/" in z or z == "UTC"]
        return zones[0] if len(set(zones)) == 1 else "UTC"

    return zone_of


def parse_weather_file(
    path: Path,
    *,
    fmt: str = "auto",
    station: str | None = None,
    time_zone: str | None = None,
    units: str | None = None,
    stations: Mapping[str, str] | None = None,
) -> ParsedWeather:
    """The file's daily means; WeatherFileError (one line) when it cannot be read at all."""
    if fmt not in FORMATS:
        raise WeatherFileError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    if station:
        try:
            check_station_id(station)
        except StationMappingError as exc:
            raise WeatherFileError(str(exc)) from None
    if time_zone is not None and time_zone not in available_timezones():
        raise WeatherFileError(f"time zone {time_zone!r} is not an IANA time zone")
    if units not in (None, *UNITS):
        raise WeatherFileError(f"unknown units {units!r}: one of {', '.join(UNITS)}")
    unit = None if units in (None, "auto") else units
    zone_of = _zone_resolver(time_zone, stations or {})
    kind = detect_format(path) if fmt == "auto" else fmt
    if kind == noaa_hourly.FORMAT:
        parsed = noaa_hourly.parse(path, station=station, zone_of=zone_of)
    elif kind == ghcn_daily.FORMAT:
        first = next(csv_rows(open_text(path)))[1]
        if ghcn_daily.looks_like_element_rows(first):
            parsed = ghcn_daily.parse_element_rows(path, station=station)
        else:
            parsed = ghcn_daily.parse_ncei(path, station=station, units=unit)
    else:
        parsed = plain_csv.parse(path, station=station, zone_of=zone_of, units=unit)
    for name in parsed.days["station_id"].unique():
        try:
            check_station_id(str(name))
        except StationMappingError as exc:
            raise WeatherFileError(f"{exc} (give --station)") from None
    return _observed_days_only(parsed)


# Before this, no station kept hourly or daily records; after tomorrow, a date is not an observation.
FIRST_OBSERVED_DAY = date(1850, 1, 1)


def _observed_days_only(parsed: ParsedWeather) -> ParsedWeather:
    """Days dated before FIRST_OBSERVED_DAY or after tomorrow (UTC) are reported, not stored."""
    if parsed.days.empty:
        return parsed
    last = datetime.now(UTC).date() + timedelta(days=1)
    # python dates, not Timestamps: pandas cannot hold the years a bad file may carry (1, 9999)
    days = parsed.days["date"].map(lambda d: d if type(d) is date else pd.Timestamp(d).date())
    wrong = ((days < FIRST_OBSERVED_DAY) | (days > last)).astype(bool)
    for row in parsed.days[wrong].itertuples():
        parsed.issues.append(
            RowIssue(
                0, f"{row.station_id} {row.date}: not between {FIRST_OBSERVED_DAY} and {last}: not stored"
            )
        )
    parsed.days = parsed.days[~wrong].reset_index(drop=True)
    return parsed


async def import_weather(
    engine: AsyncEngine,
    path: Path,
    *,
    fmt: str = "auto",
    station: str | None = None,
    time_zone: str | None = None,
    units: str | None = None,
    stations: Mapping[str, str] | None = None,
) -> WeatherImportReport:
    """Parse and store one file; re-importing it changes nothing."""
    if stations is None:
        from gridjourney.config import get_settings

        stations = get_settings().weather_stations
    parsed = parse_weather_file(
        path, fmt=fmt, station=station, time_zone=time_zone, units=units, stations=stations
    )
    report = WeatherImportReport(
        file_name=path.name,
        format=parsed.format,
        units=parsed.units,
        issues=parsed.issues,
        rejected_by_quality=parsed.rejected_by_quality,
        missing_values=parsed.missing_values,
    )
    for name, days in parsed.days.groupby("station_id", sort=True):
        frame = days.assign(source=parsed.format)
        counts = await upsert_daily(engine, frame)
        report.stations.append(
            StationSummary(
                station_id=str(name),
                days=len(frame),
                first=min(frame["date"]),
                last=max(frame["date"]),
                inserted=counts.inserted,
                updated=counts.updated,
            )
        )
    return report
