"""NOAA Global Hourly (Integrated Surface Database) in NCEI's CSV access format.

One row per report: "STATION","DATE","SOURCE",...,"REPORT_TYPE",...,"TMP",... where DATE is UTC
(2013-01-01T00:50:00) and TMP is the air temperature in tenths of °C with its quality code,
"+0061,1"; "+9999,9" is missing. Quality codes 2, 3, 6 and 7 (suspect or erroneous) are left out;
daily and monthly summary rows (REPORT_TYPE SOD, SOM) are not hourly readings and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from gridjourney.weather.readings import (
    ParsedWeather,
    RowIssue,
    WeatherFileError,
    csv_rows,
    hourly_to_daily,
    open_text,
    plausible,
)

FORMAT = "noaa-global-hourly"
REQUIRED = ("STATION", "DATE", "TMP")
_TMP = re.compile(r"^([+-]\d{4}),([0-9A-Z])$")
REJECTED_QUALITY = frozenset("2367")
SUMMARY_REPORTS = frozenset({"SOD", "SOM"})
MISSING = 9999


def looks_like(header: list[str]) -> bool:
    names = {h.upper() for h in header}
    return all(name in names for name in REQUIRED)


def parse(path: Path, *, station: str | None, zone_of: Callable[[str], str]) -> ParsedWeather:
    rows = csv_rows(open_text(path))
    try:
        _, header = next(rows)
    except StopIteration:
        raise WeatherFileError("the file is empty") from None
    index = {name.upper(): i for i, name in enumerate(header)}
    if not looks_like(header):
        raise WeatherFileError(f"not NOAA Global Hourly CSV: needs columns {', '.join(REQUIRED)}")
    report_type = index.get("REPORT_TYPE")
    issues: list[RowIssue] = []
    readings: list[tuple[str, datetime, float]] = []
    rejected = missing = 0
    for line, cells in rows:
        if len(cells) < len(header):
            issues.append(RowIssue(line, f"{len(cells)} cells, the header has {len(header)}"))
            continue
        if report_type is not None and cells[report_type].upper() in SUMMARY_REPORTS:
            continue
        match = _TMP.match(cells[index["TMP"]])
        if not match:
            issues.append(RowIssue(line, f"TMP {cells[index['TMP']]!r} is not like +0123,1"))
            continue
        tenths, quality = int(match.group(1)), match.group(2)
        if abs(tenths) == MISSING:
            missing += 1
            continue
        if quality in REJECTED_QUALITY:
            rejected += 1
            continue
        try:
            at = datetime.fromisoformat(cells[index["DATE"]])
        except ValueError:
            issues.append(RowIssue(line, f"DATE {cells[index['DATE']]!r} is not a date and time"))
            continue
        celsius = tenths / 10.0
        if not plausible(celsius):
            issues.append(RowIssue(line, f"TMP {celsius:.6g} °C is not a plausible air temperature"))
            continue
        source_station = cells[index["STATION"]]
        if not station and not source_station:
            issues.append(RowIssue(line, "no STATION (give --station)"))
            continue
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        readings.append((station or source_station, at, celsius))
    days = hourly_to_daily(readings, zone_of, issues)
    return ParsedWeather(FORMAT, "tenths of °C", days, issues, rejected, missing)
