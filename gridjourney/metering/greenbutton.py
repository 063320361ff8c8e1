"""Importing Green Button files (ESPI XML or the CSV export) for one customer.

A file is parsed completely before anything is stored, so a refused file (GreenButtonError: the
element or line, and the reason) leaves nothing behind. Parts of an ESPI file that are not electric
interval energy (a gas UsagePoint, cumulative registers, blocks without a ReadingType) are skipped
and listed in the report; the file is refused only when nothing is left. Its reads are checked and
the findings put in the report (gaps, duplicates, negative values, DST repeats, local times that do
not exist), not dropped silently; then the reads are COPYed into meter_reads and ONE
`meter.reads_imported` event is appended in the same transaction. The event id derives from the
file's SHA-256 and the customer, so importing the same file again stores nothing and appends
nothing; overlapping files merge (a read already stored is kept).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import customers
from gridjourney.events.fields import CUSTOMER_ID_PATTERN, EARLIEST, LATEST, iana_time_zone
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventIdConflict, EventStore
from gridjourney.metering.errors import GreenButtonError
from gridjourney.metering.espi import parse_espi
from gridjourney.metering.gbcsv import parse_csv
from gridjourney.metering.store import copy_reads_in, prepare_partitions

EVENT_NAMESPACE = uuid.UUID("6f1d3c52-8a43-4c1e-9a51-2b8e7f3d9c10")  # fixed: ids must be stable
MAX_ISSUES = 200
IssueKind = Literal["gap", "duplicate", "negative", "dst_repeat", "dst_nonexistent"]

__all__ = [
    "GreenButtonError",
    "ImportIssue",
    "ImportReport",
    "SkippedPart",
    "import_greenbutton",
    "looks_like_xml",
    "parse_greenbutton",
]


class ImportIssue(BaseModel):
    kind: IssueKind
    meter_id: str
    start: datetime = Field(description="UTC start of the affected span (local time for dst_nonexistent).")
    end: datetime | None = None
    count: int = Field(description="Missing intervals (gap) or reads concerned.")
    detail: str


class SkippedPart(BaseModel):
    element: str = Field(description="The part of the file left out (entry and element).")
    reason: str
    readings: int = Field(0, description="IntervalReadings left out with it.")


class ImportReport(BaseModel):
    customer_id: str
    file_name: str | None = None
    format: Literal["espi-xml", "csv"]
    content_sha256: str
    import_id: str
    event_id: uuid.UUID
    already_imported: bool = Field(False, description="This exact file was imported before: nothing changed.")
    meter_ids: list[str]
    interval_seconds: list[int]
    reads_in_file: int
    reads_stored: int
    reads_already_stored: int
    first_read_at: datetime | None
    last_read_at: datetime | None
    total_kwh: float = Field(description="Net kWh of the file's reads (export counts negative).")
    issue_counts: dict[str, int]
    issues: list[ImportIssue] = Field(description=f"The first {MAX_ISSUES} findings, in time order per kind.")
    skipped: list[SkippedPart] = Field(
        default_factory=list, description="Parts of the file not imported (gas, registers, no unit), and why."
    )
    notes: list[str] = Field(
        default_factory=list, description="What was assumed to read the file (a unit, a namespace)."
    )


class ParsedFile(BaseModel):
    """A parsed file's reads (meter_id, read_at, interval_seconds, kwh, quality) and findings."""

    model_config = {"arbitrary_types_allowed": True}
    format: Literal["espi-xml", "csv"]
    reads: pd.DataFrame
    issues: list[ImportIssue]
    skipped: list[SkippedPart] = []
    notes: list[str] = []


def _runs(mask: pd.Series) -> list[tuple[int, int]]:
    """(first, last) positions of each run of True."""
    values = mask.to_numpy()
    runs: list[tuple[int, int]] = []
    start = None
    for i, flag in enumerate(values):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(values) - 1))
    return runs


def _duplicates(reads: pd.DataFrame) -> tuple[pd.DataFrame, list[ImportIssue]]:
    """Reads repeated within one series of the file: the first is kept, each repeat is flagged."""
    key = ["meter_id", "read_at", "interval_seconds", "series"]
    reads = reads.sort_values(key, kind="stable").reset_index(drop=True)
    duplicated = reads.duplicated(key, keep="first")
    kept = reads.groupby(key, sort=False)["kwh"].transform("first")
    issues = []
    for row, first in zip(reads[duplicated].itertuples(index=False), kept[duplicated], strict=True):
        same = "the same value" if first == row.kwh else f"{row.kwh:.6g} kWh, while {first:.6g} kWh was kept"
        issues.append(
            ImportIssue(
                kind="duplicate", meter_id=str(row.meter_id), start=row.read_at, count=1,
                detail=f"repeated read: {same}",
            )
        )  # fmt: skip
    return reads[~duplicated].reset_index(drop=True), issues


def _series_issues(reads: pd.DataFrame) -> list[ImportIssue]:
    """Gaps, runs of negative values and repeated local hours, per meter and interval length."""
    issues: list[ImportIssue] = []
    for (meter, _), series in reads.groupby(["meter_id", "interval_seconds"], sort=True):
        series = series.sort_values("read_at")
        seconds = int(series["interval_seconds"].iloc[0])
        ends = series["read_at"] + pd.to_timedelta(series["interval_seconds"], unit="s")
        following = series["read_at"].shift(-1)
        for i in (following > ends).to_numpy().nonzero()[0]:
            missing = int((following.iloc[i] - ends.iloc[i]).total_seconds() // seconds)
            issues.append(
                ImportIssue(
                    kind="gap", meter_id=str(meter), start=ends.iloc[i], end=following.iloc[i], count=missing,
                    detail=f"{missing} missing interval(s) of {seconds} s",
                )
            )  # fmt: skip
        for first, last in _runs(series["kwh"] < 0):
            total = series["kwh"].iloc[first : last + 1].sum()
            issues.append(
                ImportIssue(
                    kind="negative", meter_id=str(meter), start=series["read_at"].iloc[first],
                    end=ends.iloc[last], count=last - first + 1,
                    detail=f"{last - first + 1} negative read(s), {total:.3f} kWh (export, or an error)",
                )
            )  # fmt: skip
        repeated = series[series["wall"].duplicated(keep=False)]
        for wall_hour, group in repeated.groupby(repeated["wall"].dt.floor("h"), sort=True):
            issues.append(
                ImportIssue(
                    kind="dst_repeat", meter_id=str(meter), start=group["read_at"].min(),
                    end=group["read_at"].max() + pd.Timedelta(seconds=seconds), count=len(group),
                    detail=f"local {wall_hour:%Y-%m-%d %H:%M} occurs twice (DST ends); both hours kept",
                )
            )  # fmt: skip
    return issues


# What a meter_reads row can hold and a fold can read: the event log's time range, and energy that is a
# finite number no home meter exceeds in one interval (a larger value is a unit or file error).
MAX_KWH_PER_INTERVAL = 1_000_000.0


def _check_storable(reads: pd.DataFrame) -> None:
    """Refuse the file (naming the first bad read) if a read lies outside the storable time range or its
    energy is not a finite, plausible number."""
    early, late = pd.Timestamp(EARLIEST), pd.Timestamp(LATEST)
    outside = (reads["read_at"] < early) | (reads["read_at"] > late)
    if outside.any():
        at = reads["read_at"][outside].iloc[0]
        raise GreenButtonError(
            "interval start", f"{at} lies outside {early.year}-{late.year}: not a meter read time"
        )
    kwh = reads["kwh"].to_numpy(dtype="float64")
    unfit = ~np.isfinite(kwh) | (np.abs(kwh) > MAX_KWH_PER_INTERVAL)
    if unfit.any():
        at = reads["read_at"][unfit].iloc[0]
        raise GreenButtonError(
            "value", f"the read at {at} is not a finite energy within ±{MAX_KWH_PER_INTERVAL:,.0f} kWh"
        )


# Blanks, then an optional UTF-8 byte order mark, then "<": matched in place (a 64 MB body is not copied).
_XML_START = re.compile(rb"[ \t\n\r\x0b\x0c]*(?:\xef\xbb\xbf)?<")


def looks_like_xml(data: bytes) -> bool:
    """Whether the file is XML rather than CSV, by its first character."""
    return _XML_START.match(data) is not None


def parse_greenbutton(
    data: bytes, customer_id: str, *, time_zone: str | None = None, assume_uom: str | None = None
) -> ParsedFile:
    """Parse and check a file (XML or CSV, told apart by content). CSV times are local to `time_zone`;
    `assume_uom` (Wh or kWh) is the unit of ESPI blocks that have no ReadingType."""
    head = data.lstrip()[:200]
    if not head.lstrip(b"\xef\xbb\xbf").strip():
        raise GreenButtonError("file", "the file is empty")
    nonexistent: list[ImportIssue] = []
    skipped: list[SkippedPart] = []
    notes: list[str] = []
    if head.startswith(b"<") or head.startswith(b"\xef\xbb\xbf<"):
        feed = parse_espi(data, assume_uom=assume_uom)
        reads, fmt = feed.reads, "espi-xml"
        skipped = [SkippedPart(element=s.element, reason=s.reason, readings=s.readings) for s in feed.skipped]
        notes = feed.notes
        wall = (
            feed.local_time.wall_times(reads["read_at"])
            if feed.local_time is not None
            else reads["read_at"].dt.tz_localize(None)
        )
        reads["wall"] = wall
    else:
        if time_zone is None:
            raise GreenButtonError("time zone", "CSV times are local: name the customer's time zone")
        parsed = parse_csv(data, time_zone)
        reads, fmt = parsed.reads, "csv"
        skipped = [
            SkippedPart(element=s.element, reason=s.reason, readings=s.readings) for s in parsed.skipped
        ]
        meter = f"{customer_id}:{reads['meter_key'].iloc[0]}" if len(reads) else customer_id
        nonexistent = [
            ImportIssue(
                kind="dst_nonexistent", meter_id=meter, start=wall.to_pydatetime(), count=1,
                detail=f"line {line}: local {wall:%Y-%m-%d %H:%M} does not exist (DST starts); not stored",
            )
            for wall, line in parsed.nonexistent
        ]  # fmt: skip
    if reads.empty:
        raise GreenButtonError("file", "no reads in the file")
    _check_storable(reads)
    # Meter ids carry the customer: two customers' files may both call their meter "UsagePoint/1".
    reads["meter_id"] = customer_id + ":" + reads["meter_key"].astype(str)
    reads, duplicates = _duplicates(reads)
    # Delivered and received series of one usage point become one net read per interval.
    net = reads.groupby(["meter_id", "read_at", "interval_seconds"], sort=True, as_index=False).agg(
        kwh=("kwh", "sum"), quality=("quality", "first"), wall=("wall", "first")
    )
    issues = nonexistent + duplicates + _series_issues(net)
    return ParsedFile(format=fmt, reads=net.drop(columns="wall"), issues=issues, skipped=skipped, notes=notes)


def _parse_and_hash(
    data: bytes, customer_id: str, *, time_zone: str | None, assume_uom: str | None
) -> tuple[ParsedFile, str]:
    parsed = parse_greenbutton(data, customer_id, time_zone=time_zone, assume_uom=assume_uom)
    return parsed, hashlib.sha256(data).hexdigest()


async def _customer_time_zone(engine: AsyncEngine, customer_id: str) -> str | None:
    async with engine.connect() as conn:
        zone = await conn.scalar(select(customers.c.time_zone).where(customers.c.customer_id == customer_id))
    return str(zone) if zone else None


async def import_greenbutton(
    engine: AsyncEngine,
    path_or_bytes: str | Path | bytes,
    customer_id: str,
    *,
    time_zone: str | None = None,
    file_name: str | None = None,
    assume_uom: str | None = None,
) -> ImportReport:
    """Import one file for `customer_id`. CSV times are read in `time_zone`, else the customer's zone
    as the customers projection knows it; a CSV for a customer with no known zone is refused."""
    if re.fullmatch(CUSTOMER_ID_PATTERN, customer_id) is None:
        raise GreenButtonError("customer", f"customer ids match {CUSTOMER_ID_PATTERN}")
    if isinstance(path_or_bytes, bytes):
        data = path_or_bytes
    else:
        data = await asyncio.to_thread(Path(path_or_bytes).read_bytes)
        file_name = file_name or Path(path_or_bytes).name
    is_csv = not looks_like_xml(data)
    if is_csv and time_zone is None:
        time_zone = await _customer_time_zone(engine, customer_id)
    if time_zone is not None:
        try:
            iana_time_zone(time_zone)
        except ValueError:
            raise GreenButtonError("time zone", f"unknown IANA time zone {time_zone!r}") from None
    # Parsing (and hashing) a file of up to 64 MB is CPU work: off the event loop, so that one upload
    # does not stall every other request the process serves.
    parsed, digest = await asyncio.to_thread(
        _parse_and_hash, data, customer_id, time_zone=time_zone, assume_uom=assume_uom
    )
    import_id = f"gb-{digest[:24]}"
    event_id = uuid.uuid5(EVENT_NAMESPACE, f"{digest}:{customer_id}")
    reads = parsed.reads.assign(customer_id=customer_id, source=f"greenbutton-{parsed.format}")
    counts: dict[str, int] = {}
    for issue in parsed.issues:
        counts[issue.kind] = counts.get(issue.kind, 0) + 1
    if parsed.skipped:
        counts["skipped_parts"] = len(parsed.skipped)
    first, last = reads["read_at"].min(), reads["read_at"].max()
    payload = {
        "import_id": import_id,
        "format": parsed.format,
        "content_sha256": digest,
        "file_name": file_name,
        "meter_ids": sorted(reads["meter_id"].unique().tolist()),
        "reads_in_file": len(reads),
        "reads_stored": 0,
        "first_read_at": first.to_pydatetime(),
        "last_read_at": last.to_pydatetime(),
        "total_kwh": round(float(reads["kwh"].sum()), 6),
        "interval_seconds": sorted(int(s) for s in reads["interval_seconds"].unique()),
        "issue_counts": counts,
    }
    await prepare_partitions(engine, reads)
    store = EventStore(engine)
    async with engine.begin() as conn:
        stored = await copy_reads_in(conn, reads, import_id=import_id)
        payload["reads_stored"] = stored
        event = NewEvent(
            event_id=event_id,
            type="meter.reads_imported",
            customer_id=customer_id,
            occurred_at=datetime.now(UTC),
            source="greenbutton",
            payload=payload,
        )
        # A file imported before already has its event (with that import's counts): the store refuses
        # the event_id for other content. It decides under its append lock, in this transaction, so
        # two concurrent imports of one file write one event; an erased customer raises CustomerErased
        # and the reads roll back with it.
        try:
            await store.append_in(conn, [event])
            already_imported = False
        except EventIdConflict:
            already_imported = True
    return ImportReport(
        customer_id=customer_id,
        file_name=file_name,
        format=parsed.format,
        content_sha256=digest,
        import_id=import_id,
        event_id=event_id,
        already_imported=already_imported,
        meter_ids=payload["meter_ids"],
        interval_seconds=payload["interval_seconds"],
        reads_in_file=len(reads),
        reads_stored=stored,
        reads_already_stored=len(reads) - stored,
        first_read_at=first.to_pydatetime(),
        last_read_at=last.to_pydatetime(),
        total_kwh=float(reads["kwh"].sum()),
        issue_counts=counts,
        issues=parsed.issues[:MAX_ISSUES],
        skipped=parsed.skipped,
        notes=parsed.notes,
    )
