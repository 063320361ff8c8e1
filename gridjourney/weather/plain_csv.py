"""A plain CSV of station, time and temperature, with a header row.

Column names are matched loosely: station (station, station_id; or --station for the whole file),
time (time, date, datetime, timestamp), and the mean temperature (temperature, temp, tmean, tavg,
mean_temp; min and max columns are not means and are ignored). A unit in the temperature column's
name is honoured (tmean_c, temp_f, "temperature (°F)", temp_k); none stated means °C, and the report
says so. Times that are dates are the day's mean already; timed rows are reduced to daily means in
the given zone (naive times are read as that zone's wall clock).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gridjourney.weather.readings import (
    ParsedWeather,
    RowIssue,
    WeatherFileError,
    csv_rows,
    days_frame,
    hourly_to_daily,
    open_text,
    plausible,
    to_celsius,
    unit_in_header,
)

FORMAT = "plain"
STATION_NAMES = ("station", "station_id", "stationid")
TIME_NAMES = ("time", "date", "datetime", "timestamp", "date_time", "valid", "observed_at")
MEAN_NAME = re.compile(r"^(temperature|temp|tmean|tavg|t_mean|t_avg|mean_temp\w*|avg_temp\w*)\b")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _normal(name: str) -> str:
    return re.sub(r"\s+", "_", name.strip().lower())


def _without_unit(name: str) -> str:
    """The name less a trailing unit and its separators ("tmean_c" -> "tmean", "temp_(°f)" -> "temp").
    Read from the end in one pass: the regex it replaces (separators, then an optional unit, up to the
    end) rescanned a run of separators from each of its characters (a 100 KB header cell took minutes)."""
    end = len(name)
    if name[end - 1 : end] in (")", "]"):
        end -= 1
    if name[end - 1 : end] in ("c", "f", "k"):
        end -= 1
    for word in ("deg", "°"):
        if name.endswith(word, 0, end):
            end -= len(word)
            break
    while end and (name[end - 1] in "_([" or name[end - 1].isspace()):
        end -= 1
    return name[:end]


def _columns(header: list[str], station: str | None) -> tuple[int | None, int, int]:
    names = [_normal(h) for h in header]
    station_at = next((i for i, n in enumerate(names) if n in STATION_NAMES), None)
    time_at = next((i for i, n in enumerate(names) if n in TIME_NAMES), None)
    temp_at = next(
        (
            i
            for i, n in enumerate(names)
            if MEAN_NAME.match(_without_unit(n) or n) and not re.search(r"min|max|dew", n)
        ),
        None,
    )
    missing = [
        what for what, at in (("a time or date", time_at), ("a mean temperature", temp_at)) if at is None
    ]
    if station_at is None and not station:
        missing.append("a station column (or give --station)")
    if missing:
        raise WeatherFileError(f"no column for {' and '.join(missing)} among: {', '.join(header)}")
    assert time_at is not None and temp_at is not None
    return station_at, time_at, temp_at


def parse(
    path: Path, *, station: str | None, zone_of: Callable[[str], str], units: str | None
) -> ParsedWeather:
    rows = csv_rows(open_text(path))
    try:
        _, header = next(rows)
    except StopIteration:
        raise WeatherFileError("the file is empty") from None
    station_at, time_at, temp_at = _columns(header, station)
    stated = unit_in_header(header[temp_at])
    unit = units or stated or "C"
    unit_text = {"C": "°C", "F": "°F", "K": "K", "tenths-C": "tenths of °C"}[unit]
    if not (units or stated):
        unit_text += " (not stated in the header: assumed)"
    issues: list[RowIssue] = []
    daily: dict[tuple[str, date], list[tuple[int, float]]] = defaultdict(list)
    timed: list[tuple[str, datetime, float]] = []
    missing = 0
    for line, cells in rows:
        if len(cells) <= max(temp_at, time_at, station_at or 0):
            issues.append(RowIssue(line, f"{len(cells)} cells, the header has {len(header)}"))
            continue
        name = station or (cells[station_at] if station_at is not None else "")
        if not name:
            issues.append(RowIssue(line, "no station"))
            continue
        if not cells[temp_at] or cells[temp_at].upper() in ("NA", "NAN", "M"):
            missing += 1
            continue
        try:
            celsius = to_celsius(float(cells[temp_at]), unit)
        except ValueError:
            issues.append(RowIssue(line, f"temperature {cells[temp_at]!r} is not a number"))
            continue
        if not plausible(celsius):
            issues.append(RowIssue(line, f"{celsius:.6g} °C is not a plausible air temperature"))
            continue
        when = cells[time_at]
        try:
            if _DATE_ONLY.match(when):
                daily[(name, date.fromisoformat(when))].append((line, celsius))
                continue
            at = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            issues.append(RowIssue(line, f"time {when!r} is not an ISO date or date and time"))
            continue
        timed.append((name, at if at.tzinfo else at.replace(tzinfo=ZoneInfo(zone_of(name))), celsius))
    rows_out: list[tuple[str, date, float, int]] = []
    for (name, day), values in sorted(daily.items()):
        if len(values) > 1:
            lines = ", ".join(str(line) for line, _ in values)
            issues.append(
                RowIssue(
                    values[1][0], f"{name} {day} given {len(values)} times (lines {lines}): the first kept"
                )
            )
        rows_out.append((name, day, values[0][1], 1))
    days = days_frame(rows_out)
    if timed:
        hourly = hourly_to_daily(timed, zone_of, issues)
        clash = hourly.merge(days[["station_id", "date"]], on=["station_id", "date"])
        if not clash.empty:
            raise WeatherFileError("the file mixes daily values and timed readings for the same days")
        days = hourly if days.empty else days_frame([*rows_out, *hourly.itertuples(index=False, name=None)])
    issues.sort(key=lambda issue: issue.line)
    return ParsedWeather(FORMAT, unit_text, days, issues, 0, missing)
