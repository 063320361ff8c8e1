"""What every weather parser shares: the parsed result, row issues, units, hourly → daily means.

Parsers never raise on a bad row: they note it (with its line number) and go on; a file they cannot
read at all raises WeatherFileError with a one-line reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

# Outside these a value is a unit or parsing error, not weather (records: -89.2 °C, 56.7 °C).
PLAUSIBLE_C = (-90.0, 60.0)
# Hourly sources: a day's mean needs readings in this many of its eight three-hour blocks (synoptic
# stations report every 3 hours); fewer, and a warm afternoon or a cold night alone would pass for it.
MIN_BLOCKS_PER_DAY = 6


class WeatherFileError(ValueError):
    """The file as a whole cannot be read as weather (one line, naming what is wrong)."""


@dataclass(frozen=True)
class RowIssue:
    line: int  # 1-based line of the file; 0 for a whole day
    message: str


@dataclass
class ParsedWeather:
    """Daily means found in a file: station_id, date, temperature_c, observations."""

    format: str
    units: str
    days: pd.DataFrame
    issues: list[RowIssue] = field(default_factory=list)
    rejected_by_quality: int = 0
    missing_values: int = 0


def open_text(path: Path) -> io.TextIOBase:
    """A text handle on a plain or gzipped file (NOAA serves both)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return io.StringIO(raw.decode("utf-8-sig", errors="replace"), newline="")


def csv_rows(handle: io.TextIOBase) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row."""
    reader = csv.reader(handle)
    try:
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                yield reader.line_num, [c.strip() for c in cells]
    except csv.Error as error:  # a cell past the csv module's 128 KiB, a NUL: no weather file has one
        raise WeatherFileError(f"line {max(reader.line_num, 1)}: not readable as CSV ({error})") from None


_UNIT_IN_NAME = re.compile(
    r"(?:[\s_(\[]|^)(?:°|deg(?:rees?)?[\s_]?)?(c|f|k|celsius|fahrenheit|kelvin)[)\]]?$", re.IGNORECASE
)


def unit_in_header(name: str) -> str | None:
    """'C', 'F' or 'K' when a column name states its unit: tmean_c, temp (°F), temperature_degC."""
    match = _UNIT_IN_NAME.search(name.strip())
    if not match:
        return None
    return match.group(1)[0].upper()


def to_celsius(value: float, unit: str) -> float:
    if unit == "F":
        return (value - 32.0) / 1.8
    if unit == "K":
        return value - 273.15
    if unit == "tenths-C":
        return value / 10.0
    return value


def plausible(celsius: float) -> bool:
    return PLAUSIBLE_C[0] <= celsius <= PLAUSIBLE_C[1]


def days_frame(rows: list[tuple[str, date, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["station_id", "date", "temperature_c", "observations"])


def hourly_to_daily(
    readings: list[tuple[str, datetime, float]], zone_of: Callable[[str], str], issues: list[RowIssue]
) -> pd.DataFrame:
    """Daily means of timed readings (aware datetimes) in each station's zone: each local hour
    averaged first, so a burst of special reports in one hour weighs no more than a routine one,
    then the day's hours."""
    zones: dict[str, ZoneInfo] = {}
    by_hour: dict[tuple[str, date, int], list[float]] = defaultdict(list)
    for station, at, celsius in readings:
        if station not in zones:
            zones[station] = ZoneInfo(zone_of(station))
        local = at.astimezone(zones[station])
        by_hour[(station, local.date(), local.hour)].append(celsius)
    by_day: dict[tuple[str, date], list[tuple[int, list[float]]]] = defaultdict(list)
    for (station, day, hour), values in by_hour.items():
        by_day[(station, day)].append((hour, values))
    rows: list[tuple[str, date, float, int]] = []
    for (station, day), hours in sorted(by_day.items()):
        blocks = {hour // 3 for hour, _ in hours}
        count = sum(len(values) for _, values in hours)
        if len(blocks) < MIN_BLOCKS_PER_DAY:
            issues.append(
                RowIssue(
                    0,
                    f"{station} {day}: readings in {len(blocks)} of 8 three-hour blocks "
                    f"(needs {MIN_BLOCKS_PER_DAY}): day not stored",
                )
            )
            continue
        hourly_means = [sum(values) / len(values) for _, values in hours]
        rows.append((station, day, sum(hourly_means) / len(hourly_means), count))
    return days_frame(rows)
