"""GHCN-Daily, in its two CSV shapes.

- By-station element rows (pub/data/ghcn/daily/by_station/ID.csv.gz), no header:
  ID,YYYYMMDD,ELEMENT,DATA_VALUE,M_FLAG,Q_FLAG,S_FLAG,OBS_TIME, values in tenths of °C, -9999 missing,
  a non-blank Q_FLAG a failed quality check.
- NCEI's CSV (Climate Data Online or the access service): "STATION","DATE",...,"TAVG","TMAX","TMIN",
  optionally *_ATTRIBUTES ("M,Q,S,time"). Its unit depends on how it was ordered: °F ("standard"),
  °C ("metric", with decimals) or the raw tenths of °C (the access files). A unit in the header wins;
  else decimals mean °C; whole numbers with a PRCP in inches (decimals) mean °F; whole numbers beyond
  any °F air temperature mean tenths of °C; otherwise the file is refused and asks for --units.

The day's mean is TAVG where given, else the midpoint of TMAX and TMIN.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

from gridjourney.weather.readings import (
    ParsedWeather,
    RowIssue,
    WeatherFileError,
    csv_rows,
    days_frame,
    open_text,
    plausible,
    to_celsius,
    unit_in_header,
)

FORMAT = "ghcn-daily"
ELEMENTS = ("TAVG", "TMAX", "TMIN")
_STATION_ROW = re.compile(r"^[A-Z0-9]{11}$")
_YYYYMMDD = re.compile(r"^\d{8}$")
MISSING = -9999
# Above this no air temperature in °F has been measured (134 °F): whole numbers beyond it are tenths.
MAX_FAHRENHEIT = 135.0
UNIT_NAMES = {"C": "°C", "F": "°F", "tenths-C": "tenths of °C"}


def looks_like_element_rows(first: list[str]) -> bool:
    return (
        len(first) >= 4
        and bool(_STATION_ROW.match(first[0]))
        and bool(_YYYYMMDD.match(first[1]))
        and first[2].isalpha()
    )


def looks_like_ncei(header: list[str]) -> bool:
    names = {_base(h) for h in header}
    return "STATION" in names and "DATE" in names and any(e in names for e in ELEMENTS)


def _base(name: str) -> str:
    """TAVG from 'TAVG', 'tavg_f' or 'TAVG (°F)'."""
    return re.split(r"[\s_(\[]", name.strip().upper(), maxsplit=1)[0] if name.strip() else ""


def _means(
    values: dict[tuple[str, date], dict[str, float]],
) -> list[tuple[str, date, float, int]]:
    rows: list[tuple[str, date, float, int]] = []
    for (station, day), elements in sorted(values.items()):
        if "TAVG" in elements:
            rows.append((station, day, elements["TAVG"], 1))
        elif "TMAX" in elements and "TMIN" in elements:
            rows.append((station, day, (elements["TMAX"] + elements["TMIN"]) / 2.0, 2))
    return rows


def parse_element_rows(path: Path, *, station: str | None) -> ParsedWeather:
    issues: list[RowIssue] = []
    values: dict[tuple[str, date], dict[str, float]] = defaultdict(dict)
    rejected = missing = 0
    for line, cells in csv_rows(open_text(path)):
        if len(cells) < 4 or not _YYYYMMDD.match(cells[1]):
            issues.append(RowIssue(line, "not ID,YYYYMMDD,ELEMENT,VALUE,..."))
            continue
        element = cells[2].upper()
        if element not in ELEMENTS:
            continue
        try:
            day = datetime.strptime(cells[1], "%Y%m%d").date()
            raw = int(cells[3])
        except ValueError:
            issues.append(RowIssue(line, f"date {cells[1]!r} or value {cells[3]!r} unreadable"))
            continue
        if raw == MISSING:
            missing += 1
            continue
        if len(cells) > 5 and cells[5]:
            rejected += 1
            continue
        celsius = raw / 10.0
        if not plausible(celsius):
            issues.append(RowIssue(line, f"{element} {celsius:.6g} °C is not a plausible air temperature"))
            continue
        values[(station or cells[0], day)][element] = celsius
    return ParsedWeather(FORMAT, "tenths of °C", days_frame(_means(values)), issues, rejected, missing)


def _ncei_unit(header: list[str], columns: dict[str, int], body: list[tuple[int, list[str]]]) -> str:
    for name in header:
        if _base(name) in ELEMENTS and (stated := unit_in_header(name)):
            return stated
    numbers = [
        cells[i]
        for _, cells in body
        for element, i in columns.items()
        if element in ELEMENTS and i < len(cells) and cells[i]
    ]
    if any("." in n for n in numbers):
        return "C"
    precipitation = columns.get("PRCP")
    if precipitation is not None and any(
        "." in cells[precipitation] for _, cells in body if precipitation < len(cells)
    ):
        return "F"
    magnitudes = [abs(float(n)) for n in numbers if re.fullmatch(r"-?\d+", n)]
    if magnitudes and max(magnitudes) > MAX_FAHRENHEIT:
        return "tenths-C"
    raise WeatherFileError(
        "the unit of TAVG/TMAX/TMIN is not stated and cannot be told from the values: "
        "give --units F, --units C or --units tenths-C"
    )


def parse_ncei(path: Path, *, station: str | None, units: str | None) -> ParsedWeather:
    rows = list(csv_rows(open_text(path)))
    if not rows:
        raise WeatherFileError("the file is empty")
    header = rows[0][1]
    body = rows[1:]
    if not looks_like_ncei(header):
        raise WeatherFileError(
            "not GHCN-Daily: neither ID,YYYYMMDD,ELEMENT,VALUE rows nor a STATION,DATE,TAVG/TMAX/TMIN header"
        )
    columns: dict[str, int] = {}
    for i, name in enumerate(header):
        base = _base(name)
        if name.strip().upper().endswith("_ATTRIBUTES"):
            columns[f"{base}_ATTRIBUTES"] = i
        else:
            columns.setdefault(base, i)
    unit = units or _ncei_unit(header, columns, body)
    issues: list[RowIssue] = []
    values: dict[tuple[str, date], dict[str, float]] = defaultdict(dict)
    rejected = missing = 0
    for line, cells in body:
        if len(cells) < len(header):
            issues.append(RowIssue(line, f"{len(cells)} cells, the header has {len(header)}"))
            continue
        try:
            day = date.fromisoformat(cells[columns["DATE"]][:10])
        except ValueError:
            issues.append(RowIssue(line, f"DATE {cells[columns['DATE']]!r} is not a date"))
            continue
        key = (station or cells[columns["STATION"]], day)
        for element in ELEMENTS:
            if element not in columns or not cells[columns[element]]:
                missing += element in columns
                continue
            flags = (
                cells[columns[f"{element}_ATTRIBUTES"]].split(",")
                if f"{element}_ATTRIBUTES" in columns
                else []
            )
            if len(flags) > 1 and flags[1].strip():
                rejected += 1
                continue
            try:
                celsius = to_celsius(float(cells[columns[element]]), unit)
            except ValueError:
                issues.append(RowIssue(line, f"{element} {cells[columns[element]]!r} is not a number"))
                continue
            if not plausible(celsius):
                issues.append(
                    RowIssue(line, f"{element} {celsius:.6g} °C is not a plausible air temperature")
                )
                continue
            values[key][element] = celsius
    return ParsedWeather(
        FORMAT, UNIT_NAMES.get(unit, unit), days_frame(_means(values)), issues, rejected, missing
    )
