"""Green Button CSV exports ("Download my data"), as PG&E and others give them to customers.

A few `key,value` header lines (name, address, account, service), a blank line, then
`TYPE,DATE,START TIME,END TIME,USAGE,UNITS,...` (one unit per row) or, for net-metered customers,
`IMPORT (kWh)` and `EXPORT (kWh)` columns (stored as import - export, so export is negative). Rows in
units that are not electric energy (a gas meter's therms in the same export) are skipped and reported,
unless nothing else is left. Times are
local wall-clock times without an offset: the caller names the zone. In the autumn DST change the
repeated hour appears twice: the first is taken as daylight time, the second as standard time.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridjourney.metering.errors import GreenButtonError, SkippedSeries

UNIT_KWH = {"KWH": 1.0, "WH": 0.001, "MWH": 1000.0}
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y")
TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%I:%M %p")
FLOW_COLUMN = re.compile(r"^(IMPORT|EXPORT)\s*\(\s*([A-Z]+)\s*\)$")


@dataclass
class CsvFile:
    reads: pd.DataFrame  # meter_key, read_at, interval_seconds, kwh, quality, series, wall
    metadata: dict[str, str]
    nonexistent: list[tuple[pd.Timestamp, int]] = field(default_factory=list)  # (local start, line)
    skipped: list[SkippedSeries] = field(default_factory=list)


def _units(unit: str, where: str, line: int | None) -> float:
    factor = UNIT_KWH.get(unit.strip().upper().replace(" ", ""))
    if factor is None:
        raise GreenButtonError(
            where, f"unit {unit.strip()!r} is not electric energy; refused rather than guessed", line
        )
    return factor


def _parse_column(
    values: pd.Series, formats: tuple[str, ...], what: str, row_lines: npt.NDArray[np.int64]
) -> pd.Series:
    for fmt in formats:
        parsed = pd.to_datetime(values, format=fmt, errors="coerce")
        if parsed.notna().all():
            return parsed
    bad = int(np.flatnonzero(pd.to_datetime(values, format=formats[0], errors="coerce").isna())[0])
    raise GreenButtonError(what, f"not a {what.lower()}: {values.iloc[bad]!r}", int(row_lines[bad]))


def _other_units(
    table: pd.DataFrame, units: pd.Series, energy: pd.Series, lines: npt.NDArray[np.int64]
) -> list[SkippedSeries]:
    """One entry per TYPE and unit of the rows that are not electric energy."""
    kinds = table["TYPE"].str.strip() if "TYPE" in table.columns else pd.Series("", index=table.index)
    other = pd.DataFrame({"type": kinds, "unit": units.str.strip(), "line": lines})
    skipped = []
    for (kind, unit), rows in other[~energy.to_numpy()].groupby(["type", "unit"], sort=False):
        skipped.append(
            SkippedSeries(
                f"rows of {kind or 'usage'} from line {int(rows['line'].iloc[0])}",
                f"unit {unit!r} is not electric energy; skipped",
                len(rows),
            )
        )
    return skipped


def parse_csv(data: bytes, time_zone: str) -> CsvFile:
    text = data.decode("utf-8-sig", errors="strict")
    lines = text.splitlines()
    header_at = next(
        (i for i, line in enumerate(lines) if line.upper().startswith("TYPE,") and ",DATE" in line.upper()),
        None,
    )
    if header_at is None:
        raise GreenButtonError("header", "no `TYPE,DATE,...` header line: not a Green Button CSV export")
    metadata = {}
    for row in csv.reader(lines[:header_at]):
        if len(row) >= 2 and row[0].strip():
            metadata[row[0].strip()] = row[1].strip()
    table = pd.read_csv(io.StringIO("\n".join(lines[header_at:])), dtype=str, keep_default_na=False)
    table.columns = [str(c).strip().upper() for c in table.columns]
    table = table[table["DATE"].str.strip() != ""]
    first_line = header_at + 2  # 1-based line of the first data row
    if table.empty:
        raise GreenButtonError("rows", "the file has a header but no rows")

    row_lines = np.arange(len(table)) + first_line  # 1-based file line of each row

    def number(column: str) -> pd.Series:
        values = pd.to_numeric(
            table[column].str.replace(",", "").str.replace("$", "").str.strip(), errors="coerce"
        )
        blank = table[column].str.strip() == ""
        bad = values.isna() & ~blank
        if bad.any():
            at = int(np.flatnonzero(bad.to_numpy())[0])
            raise GreenButtonError(column, f"not a number: {table[column].iloc[at]!r}", int(row_lines[at]))
        return values

    flows = {m.group(1): (c, m.group(2)) for c in table.columns if (m := FLOW_COLUMN.match(c))}
    skipped: list[SkippedSeries] = []
    if "USAGE" in table.columns:
        units = table["UNITS"] if "UNITS" in table.columns else pd.Series("kWh", index=table.index)
        energy = units.str.strip().str.upper().str.replace(" ", "").isin(list(UNIT_KWH))
        if energy.any() and not energy.all():
            skipped = _other_units(table, units, energy, row_lines)
            keep = energy.to_numpy()
            table, units, row_lines = table[keep], units[keep], row_lines[keep]
        kwh = number("USAGE")
        factors = {
            u: _units(u, "UNITS", int(row_lines[int(np.argmax(units.to_numpy() == u))]))
            for u in units.unique()
        }
        kwh = kwh * units.map(factors).astype("float64")
    elif "IMPORT" in flows:
        column, unit = flows["IMPORT"]
        kwh = number(column) * _units(unit, column, header_at + 1)
        if "EXPORT" in flows:
            column, unit = flows["EXPORT"]
            kwh = kwh - number(column).fillna(0.0) * _units(unit, column, header_at + 1)
    else:
        raise GreenButtonError("header", "no USAGE column and no IMPORT (kWh) column", header_at + 1)

    dates = _parse_column(table["DATE"].str.strip(), DATE_FORMATS, "DATE", row_lines)
    if "START TIME" in table.columns:
        starts = _parse_column(table["START TIME"].str.strip(), TIME_FORMATS, "START TIME", row_lines)
        wall = dates + (starts - starts.dt.normalize())
    else:
        wall = dates
    if "END TIME" in table.columns and "START TIME" in table.columns:
        ends = _parse_column(table["END TIME"].str.strip(), TIME_FORMATS, "END TIME", row_lines)
        minutes = (
            (ends - ends.dt.normalize() - (wall - wall.dt.normalize())).dt.total_seconds() // 60
        ) % 1440
        # Exports give inclusive end minutes (00:00-00:14 is 15 minutes).
        minutes = minutes.where(~(minutes + 1).isin([5, 15, 30, 60]), minutes + 1)
        seconds = (minutes * 60).astype("int64")
    else:
        seconds = pd.Series(86400, index=table.index)

    frame = pd.DataFrame({"wall": wall.to_numpy(), "kwh": kwh.to_numpy(), "seconds": seconds.to_numpy()})
    frame["line"] = row_lines
    frame = frame[frame["kwh"].notna()]  # a blank value is a missing read: it shows up as a gap
    occurrence = frame.groupby("wall").cumcount()
    local = pd.DatetimeIndex(frame["wall"])
    read_at = local.tz_localize(time_zone, ambiguous=(occurrence == 0).to_numpy(), nonexistent="NaT")
    missing = np.asarray(read_at.isna(), dtype=bool)
    nonexistent = [
        (pd.Timestamp(w), int(n)) for w, n in zip(frame["wall"][missing], frame["line"][missing], strict=True)
    ]
    frame = frame[~missing]
    read_at = read_at[~missing]
    if "DAILY" in metadata.get("Interval", "").upper() or (frame["seconds"] == 86400).all():
        # A local day lasts 23 or 25 hours across DST changes.
        next_day = pd.DatetimeIndex(frame["wall"] + pd.Timedelta(days=1)).tz_localize(
            time_zone, ambiguous=True, nonexistent="shift_forward"
        )
        frame["seconds"] = ((next_day - read_at).total_seconds()).astype("int64")
    meter = metadata.get("Meter") or metadata.get("Service") or metadata.get("Account Number") or "csv"
    reads = pd.DataFrame(
        {
            "meter_key": meter.replace(" ", "-"),
            "read_at": read_at.tz_convert("UTC"),
            "interval_seconds": frame["seconds"].to_numpy(),
            "kwh": frame["kwh"].to_numpy(),
            "quality": pd.array([pd.NA] * len(frame), dtype="Int16"),
            "series": 0,
            "wall": frame["wall"].to_numpy(),
        }
    )
    return CsvFile(reads=reads, metadata=metadata, nonexistent=nonexistent, skipped=skipped)
