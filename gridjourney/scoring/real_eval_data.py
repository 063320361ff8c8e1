"""Real meter reads and temperatures for `gridjourney models evaluate --real`.

A path is a file or a folder of files. Files are told apart by content: an LCL export (`meter_id,
start,kwh`, read by gridjourney/dr/lcl.py: one series per meter, UTC stamps, Europe/London days), or a
Green Button file (XML or CSV, read by the importer in gridjourney/metering/: one series per file).
Only interval reads of an hour or less are kept: the protocol plants hours. Temperatures are a CSV of
`date,tmean_c` (the LCL README's format; `temperature_c` is accepted too).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from gridjourney.dr import lcl
from gridjourney.metering.errors import GreenButtonError
from gridjourney.metering.greenbutton import parse_greenbutton

SUFFIXES = (".xml", ".csv", ".gz")
LCL_HEADER = "meter_id,start,kwh"


class RealDataError(ValueError):
    """A file cannot be read as meter reads or temperatures (the message names it)."""


@dataclass(frozen=True)
class RealReads:
    reads: pd.DataFrame  # customer_id, read_at (UTC), interval_seconds, kwh
    time_zones: dict[str, str]  # customer_id -> IANA zone of its days
    sources: dict[str, str]  # customer_id -> file it came from


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise RealDataError(f"{path}: no such file or folder")
    if not files:
        raise RealDataError(f"{', '.join(map(str, paths))}: no .xml, .csv or .csv.gz files")
    return files


def _first_line(path: Path) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as handle:
            return handle.readline().strip().lower()
    except (OSError, EOFError) as error:
        raise RealDataError(f"{path}: cannot be read ({error})") from None


def _lcl(path: Path) -> pd.DataFrame:
    if path.name != "meters.csv.gz":
        raise RealDataError(
            f"{path}: an LCL export must be named meters.csv.gz (as gridjourney dr import-lcl reads it)"
        )
    try:
        ids = pd.read_csv(path, usecols=["meter_id"], dtype=str)["meter_id"].unique()
        homes = [lcl.Home(meter_id=str(m), tariff="", acorn_group="") for m in sorted(ids)]
        reads = lcl.read_meters(
            path.parent, homes, datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
        )
    except (ValueError, KeyError, OSError, lcl.LclDataError) as error:
        raise RealDataError(f"{path}: {error}") from None
    return reads


def _greenbutton(path: Path, time_zone: str) -> pd.DataFrame:
    customer = path.name.split(".")[0]
    try:
        parsed = parse_greenbutton(path.read_bytes(), customer, time_zone=time_zone)
    except GreenButtonError as error:
        raise RealDataError(f"{path}: {error}") from None
    reads = parsed.reads
    return reads.assign(customer_id=customer)


def load_real(paths: list[Path], *, time_zone: str = "America/Los_Angeles") -> RealReads:
    """Every series in `paths`. `time_zone`: the days of Green Button files (LCL homes are London's)."""
    frames: list[pd.DataFrame] = []
    zones: dict[str, str] = {}
    sources: dict[str, str] = {}
    for path in _files(paths):
        if _first_line(path).replace(" ", "").startswith(LCL_HEADER):
            frame = _lcl(path)
            zone = lcl.TIME_ZONE
        else:
            frame = _greenbutton(path, time_zone)
            zone = time_zone
        frame = frame[frame["interval_seconds"] <= 3600]
        for cid in frame["customer_id"].unique():
            if cid in sources:
                raise RealDataError(f"{path}: series {cid} is also in {sources[cid]}")
            zones[str(cid)] = zone
            sources[str(cid)] = str(path)
        frames.append(frame[["customer_id", "read_at", "interval_seconds", "kwh"]])
    reads = pd.concat(frames, ignore_index=True)
    if reads.empty:
        raise RealDataError(f"{', '.join(map(str, paths))}: no interval reads of an hour or less")
    reads["read_at"] = pd.to_datetime(reads["read_at"], utc=True)
    return RealReads(reads.reset_index(drop=True), zones, sources)


def load_temperatures(path: Path) -> pd.DataFrame:
    """date, temperature_c (the day's mean)."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise RealDataError(f"{path}: {error}") from None
    column = next((c for c in ("tmean_c", "temperature_c") if c in frame.columns), None)
    if "date" not in frame.columns or column is None:
        raise RealDataError(f"{path}: needs the columns date and tmean_c (the day's mean in °C)")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if len(bad):
        line = int(bad[0]) + 2  # the header is line 1
        raise RealDataError(f"{path}: line {line}: date {frame['date'].iloc[bad[0]]!r} is not a date")
    return pd.DataFrame({"date": dates.dt.normalize(), "temperature_c": values}).dropna()
