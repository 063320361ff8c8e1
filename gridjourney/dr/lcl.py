"""Import the Low Carbon London 2013 trial as DR events (`gridjourney dr import-lcl DIR`).

The directory holds `households.csv` (tariff group and Acorn group of each meter), `meters.csv.gz`
(half-hourly kWh, UTC, interval start) and `dtou_tariff_2013.csv.gz` (the day-ahead price signal of
every half hour). Each run of consecutive High-price half hours becomes a `dr.event_scheduled` (said a
day ahead, as the trial did), and a cohort run per event whose members are the time-of-use homes
(treated: they got the signal) and the flat-tariff homes (the holdout: they did not). Like days
skip England's bank holidays and the trial's Low-price days (the run's subject says so). The homes become
customers in Europe/London with their reads in the metering store, from MAX_LOOKBACK_DAYS before the
first chosen event (the baseline's like days) to the end of the last. Importing again adds nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.dr import queries
from gridjourney.dr.like_days import HOLIDAY_CALENDAR, NOT_LIKE_DAYS
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.metering.dr_baseline import MAX_LOOKBACK_DAYS
from gridjourney.metering.holidays import ENGLAND
from gridjourney.metering.store import copy_reads
from gridjourney.projections.runner import ProjectionRunner

PROGRAM = "lcl-dtou-high"
JOURNEY = "lcl-2013"
SOURCE = "lcl-2013"
TIME_ZONE = "Europe/London"
HALF_HOUR = pd.Timedelta(minutes=30)
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "gridjourney/lcl-2013")


class LclDataError(ValueError):
    """The directory does not hold the LCL files as expected."""


@dataclass(frozen=True)
class Home:
    meter_id: str
    tariff: str  # ToU | Std
    acorn_group: str

    @property
    def customer_id(self) -> str:
        return f"lcl-{self.meter_id}"


@dataclass(frozen=True)
class HighPeriod:
    start: datetime
    end: datetime

    @property
    def dr_event_id(self) -> str:
        return f"lcl-high-{self.start:%Y%m%dT%H%M}"


@dataclass(frozen=True)
class LclImport:
    homes: int
    treated: int
    holdout: int
    events: list[str]
    reads_stored: int
    reads_in_files: int


def read_homes(directory: Path, per_tariff: int | None = None) -> list[Home]:
    """The homes by meter id; `per_tariff`: only the first N of each tariff group."""
    frame = pd.read_csv(_file(directory, "households.csv"), dtype=str)
    frame = frame.sort_values("meter_id")
    if per_tariff is not None:
        frame = frame.groupby("stdorToU", group_keys=False).head(per_tariff)
    return [
        Home(meter_id=str(row.meter_id), tariff=str(row.stdorToU), acorn_group=str(row.Acorn_grouped))
        for row in frame.itertuples()
    ]


def low_price_days(directory: Path) -> list[date]:
    """The local days with a Low-price half hour: the trial asked the time-of-use homes to use more
    then, so those days are not like days of a High-price event."""
    tariff = pd.read_csv(_file(directory, "dtou_tariff_2013.csv.gz"))
    starts = pd.to_datetime(tariff.loc[tariff["dtou_signal"] == "Low", "start"], utc=True)
    return sorted(set(starts.dt.tz_convert(TIME_ZONE).dt.date))


def high_periods(directory: Path, first: date | None = None, last: date | None = None) -> list[HighPeriod]:
    """Runs of consecutive High half hours starting between `first` and `last` (inclusive)."""
    tariff = pd.read_csv(_file(directory, "dtou_tariff_2013.csv.gz"))
    starts = pd.to_datetime(tariff.loc[tariff["dtou_signal"] == "High", "start"], utc=True)
    starts = starts.sort_values().reset_index(drop=True)
    run = (starts.diff() != HALF_HOUR).cumsum()
    periods = [
        HighPeriod(start=group.iloc[0].to_pydatetime(), end=(group.iloc[-1] + HALF_HOUR).to_pydatetime())
        for _, group in starts.groupby(run)
    ]
    return [
        p
        for p in periods
        if (first is None or p.start.date() >= first) and (last is None or p.start.date() <= last)
    ]


def read_meters(directory: Path, homes: list[Home], start: datetime, end: datetime) -> pd.DataFrame:
    """The homes' reads with start <= read_at < end, as metering/store.py takes them."""
    wanted = {home.meter_id: home.customer_id for home in homes}
    chunks: list[pd.DataFrame] = []
    for chunk in pd.read_csv(_file(directory, "meters.csv.gz"), chunksize=200_000, dtype={"meter_id": str}):
        chunk = chunk[chunk["meter_id"].isin(list(wanted))]
        read_at = pd.to_datetime(chunk["start"], utc=True)
        chunks.append(chunk.assign(read_at=read_at)[(read_at >= start) & (read_at < end)])
    reads = pd.concat(chunks, ignore_index=True)
    return pd.DataFrame(
        {
            "customer_id": reads["meter_id"].map(wanted),
            "meter_id": reads["meter_id"],
            "read_at": reads["read_at"],
            "interval_seconds": 1800,
            "kwh": reads["kwh"].astype("float64"),
            "source": SOURCE,
        }
    )


async def import_lcl(
    engine: AsyncEngine,
    directory: Path,
    *,
    first: date | None = None,
    last: date | None = None,
    per_tariff: int | None = None,
) -> LclImport:
    homes = read_homes(directory, per_tariff)
    periods = high_periods(directory, first, last)
    if not homes or not periods:
        raise LclDataError("no homes or no High-price periods in the chosen range")
    store = EventStore(engine)
    await store.append([_customer_created(home) for home in homes])
    reads = read_meters(
        directory,
        homes,
        periods[0].start - timedelta(days=MAX_LOOKBACK_DAYS + 2),
        max(period.end for period in periods),
    )
    stored = await copy_reads(engine, reads, import_id=f"{SOURCE}:{directory.name}")
    scheduled = [_event_scheduled(period) for period in periods]
    await store.append(scheduled)
    # The report reads the members' time zones from `customers` and the events from `dr_events`.
    await ProjectionRunner(engine).catch_up()
    treated = [home for home in homes if home.tariff == "ToU"]
    holdout = [home for home in homes if home.tariff != "ToU"]
    low_days = low_price_days(directory)
    async with engine.begin() as conn:
        for period, event in zip(periods, scheduled, strict=True):
            await queries.record_imported_run(conn, *_run(period, event.event_id, treated, holdout, low_days))
    return LclImport(
        homes=len(homes),
        treated=len(treated),
        holdout=len(holdout),
        events=[period.dr_event_id for period in periods],
        reads_stored=stored,
        reads_in_files=len(reads),
    )


def _file(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise LclDataError(f"{path} is missing (is {directory} the lcl-2013 directory?)")
    return path


def _customer_created(home: Home) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid5(ID_NAMESPACE, f"customer/{home.meter_id}"),
        type="customer.created",
        customer_id=home.customer_id,
        occurred_at=datetime(2013, 1, 1, tzinfo=UTC),
        source=SOURCE,
        payload={
            "time_zone": TIME_ZONE,
            "locale": "en",
            "attributes": {"tariff": home.tariff, "acorn_group": home.acorn_group, "meter_id": home.meter_id},
        },
    )


def _event_scheduled(period: HighPeriod) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid5(ID_NAMESPACE, f"event/{period.dr_event_id}"),
        type="dr.event_scheduled",
        occurred_at=period.start - timedelta(days=1),  # the trial's signals were sent a day ahead
        source=SOURCE,
        payload={
            "dr_event_id": period.dr_event_id,
            "program": PROGRAM,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        },
    )


def _run(
    period: HighPeriod, trigger: uuid.UUID, treated: list[Home], holdout: list[Home], low_days: list[date]
) -> tuple[dict[str, object], list[dict[str, object]]]:
    run_id = f"cohort:{JOURNEY}:{period.dr_event_id}"
    event_day = pd.Timestamp(period.start).tz_convert(TIME_ZONE).date()
    first_day = event_day - timedelta(days=MAX_LOOKBACK_DAYS)
    members: list[dict[str, object]] = [
        {
            "run_id": run_id,
            "customer_id": home.customer_id,
            "member_no": number,
            "segment": home.acorn_group,
            "holdout": home.tariff != "ToU",
            "left_reason": "imported",
        }
        for number, home in enumerate(treated + holdout)
    ]
    run: dict[str, object] = {
        "run_id": run_id,
        "journey_id": JOURNEY,
        "version": 1,
        "cohort_key": period.dr_event_id,
        "trigger_event_id": trigger,
        "status": "completed",
        "members": len(members),
        "holdout": len(holdout),
        "subject": {
            "dr_event_id": period.dr_event_id,
            "program": PROGRAM,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            # the like-day rule of the report (dr/like_days.py): England's bank holidays, and the
            # Low-price days of the lookback
            HOLIDAY_CALENDAR: ENGLAND,
            NOT_LIKE_DAYS: [day.isoformat() for day in low_days if first_day <= day < event_day],
        },
        "started_at": period.start - timedelta(days=1),
        "finished_at": period.end,
    }
    return run, members
