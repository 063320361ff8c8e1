"""The daily scan's activities: which customers have new reads, and scoring a batch of them.

`score_customers` loads the batch's reads (the recent weeks the baselines need, and last year's
days around the current bill period for the typical bill), computes daily features in each
customer's time zone, leaves out known outage and DR days, runs anomaly detection (the saved
"anomaly" model when one is trained, else the rule baseline, saying why) and the mid-cycle bill
projection, and appends `meter.anomaly_detected` and `bill.projection_updated` for the new days.
Event ids are deterministic (an anomaly's is its customer, type and billing period; a projection's
its customer, period and day), so a rescan or a retried batch appends nothing twice. A customer with
too little history gets no event and a recorded reason.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.events.types import UnknownEventType
from gridjourney.metering.features import customer_temperatures, daily_features
from gridjourney.metering.store import load_reads
from gridjourney.projections.queries import scoring_profiles
from gridjourney.scoring import anomaly, queries
from gridjourney.scoring.bill_projection import QUIET_DAYS, project_bills
from gridjourney.scoring.customer_scores import NO_WEATHER
from gridjourney.scoring.events import anomaly_events, projection_events
from gridjourney.scoring.registry import FeatureMismatch, load_model
from gridjourney.weather.queries import daily_temperatures
from gridjourney.workflows.scoring import (
    MAX_REASONS,
    NEXT_CUSTOMERS,
    SCORE_CUSTOMERS,
    CustomerPage,
    NextCustomersInput,
    ScoreInput,
    ScoreResult,
    Skip,
)

log = logging.getLogger(__name__)

RECENT_DAYS = 100  # the anomaly baselines (28 days) and up to three earlier bill cycles
LAST_YEAR = (400, 330)  # days before `through`: last year's days around the current bill period
OUTAGE_MAX_DAYS = 7  # an outage without a restoration event excludes at most this many days


@dataclass(frozen=True)
class Profile:
    time_zone: str = "UTC"
    billing_cycle_day: int = 1
    tariff: str | None = None


@dataclass
class Scored:
    """What scoring a batch found: the events to append and the customers left without a score."""

    events: list[NewEvent]
    anomalies: int
    projections: int
    reasons: list[Skip] = field(default_factory=list)
    detector: str = ""
    weather: str = ""


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _cycle_day(value: Any) -> int:
    try:
        day = int(value)
    except (TypeError, ValueError):
        return 1
    return day if 1 <= day <= 28 else 1


def _local_dates(start: datetime, end: datetime, zone: str) -> list[date]:
    tz = ZoneInfo(zone)
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def excluded_days(
    events: list[tuple[str, str | None, datetime, dict[str, Any]]], profiles: dict[str, Profile]
) -> pd.DataFrame:
    """Known outage and DR days per customer (local dates): customer_id, date. `events`: (type,
    customer_id, occurred_at, payload) of dr.event_scheduled|cancelled and outage.detected|restored;
    a DR event without a customer concerns every customer of the batch."""
    cancelled = {p.get("dr_event_id") for kind, _, _, p in events if kind == "dr.event_cancelled"}
    restored: dict[tuple[str | None, str], datetime] = {}
    for kind, cid, at, p in events:
        if kind == "outage.restored":
            restored[(cid, str(p.get("incident_id")))] = pd.Timestamp(
                p.get("restored_at") or at
            ).to_pydatetime()
    rows: list[tuple[str, date]] = []
    for kind, cid, at, p in events:
        if kind == "dr.event_scheduled" and p.get("dr_event_id") not in cancelled:
            start = pd.Timestamp(p["start"]).to_pydatetime()
            end = pd.Timestamp(p["end"]).to_pydatetime()
            for customer in [cid] if cid is not None else list(profiles):
                if customer in profiles:
                    zone = profiles[customer].time_zone
                    rows += [(customer, d) for d in _local_dates(start, end, zone)]
        elif kind == "outage.detected" and cid in profiles:
            end = restored.get((cid, str(p.get("incident_id"))), at + timedelta(days=1))
            end = min(end, at + timedelta(days=OUTAGE_MAX_DAYS))
            rows += [(cid, d) for d in _local_dates(at, end, profiles[cid].time_zone)]
    frame = pd.DataFrame(rows, columns=["customer_id", "date"]).drop_duplicates()
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def load_detector(models_dir: Path, version: int | None) -> tuple[anomaly.AnomalyDetector | None, str]:
    """The saved anomaly model, or None and the reason the rule baseline scores instead."""
    try:
        model, artifact = load_model(models_dir, "anomaly", features=anomaly.FEATURES, version=version)
    except (FileNotFoundError, FeatureMismatch) as error:
        return None, f"rule baseline ({error})"
    if not isinstance(model, anomaly.AnomalyDetector):
        return None, f"rule baseline (the saved anomaly v{artifact.version} is not an AnomalyDetector)"
    return model, f"calibrated anomaly detector v{artifact.version}"


def score_batch(
    reads: pd.DataFrame,
    customer_ids: list[str],
    profiles: dict[str, Profile],
    *,
    since: date,
    through: date,
    detector: anomaly.AnomalyDetector | None,
    detector_name: str,
    excluded: pd.DataFrame | None = None,
    temperatures: pd.DataFrame | None = None,
) -> Scored:
    """Score one batch (pure computation: no I/O). Alerts and projections only for days in
    (since, through]; reads after `through` are ignored. `temperatures`: the zones' daily means
    (weather/queries.py daily_temperatures); without them the detector's weather-free form."""
    reasons: dict[str, list[str]] = {}
    present = set(reads["customer_id"].unique()) if len(reads) else set()
    for cid in customer_ids:
        if cid not in present:
            reasons.setdefault(cid, []).append(f"no reads up to {through.isoformat()}")
    if not present:
        return Scored([], 0, 0, _skips(reasons), detector_name)
    zones = {cid: profiles.get(cid, Profile()).time_zone for cid in present}
    daily = daily_features(reads, time_zone=zones, temperatures=customer_temperatures(temperatures, zones))
    daily = daily[pd.to_datetime(daily["date"]).dt.date <= through].reset_index(drop=True)
    for cid in present - set(daily["customer_id"]):
        reasons.setdefault(cid, []).append(f"no reads up to {through.isoformat()}")
    if daily.empty:
        return Scored([], 0, 0, _skips(reasons), detector_name)
    cycle = {cid: profiles.get(cid, Profile()).billing_cycle_day for cid in present}
    found = (
        anomaly.detect(detector, daily, excluded=excluded, billing_cycle_day=cycle)
        if detector is not None
        else anomaly.rule_detect(daily, excluded=excluded, billing_cycle_day=cycle)
    )
    for row in found.skipped.itertuples():
        reasons.setdefault(str(row.customer_id), []).append(f"anomaly: {row.reason}")
    alerts = found.alerts
    if len(alerts):
        alert_day = pd.to_datetime(alerts["alert_date"]).dt.date
        alerts = alerts[(alert_day > since) & (alert_day <= through)]
    last_meter = reads.sort_values("read_at").groupby("customer_id")["meter_id"].last()
    meters = {str(cid): str(meter) for cid, meter in last_meter.items()}
    events = anomaly_events(alerts, meters, billing_cycle_day=cycle)
    tariffs = {cid: p.tariff for cid in present if (p := profiles.get(cid)) is not None and p.tariff}
    projected = project_bills(daily, as_of=through, billing_cycle_day=cycle, tariff=tariffs)
    for row in projected.skipped.itertuples():
        reason = str(row.reason)
        if "too early or too late" not in reason:  # routine: no projection near the cycle's ends
            reasons.setdefault(str(row.customer_id), []).append(f"bill projection: {reason}")
    projections = projection_events(projected.projections) if len(projected.projections) else []
    weather = (
        NO_WEATHER
        if temperatures is None or temperatures.empty
        else f"daily mean temperatures of {temperatures['time_zone'].nunique()} zone(s)"
    )
    return Scored(
        [*events, *projections], len(events), len(projections), _skips(reasons), detector_name, weather
    )


def _skips(reasons: dict[str, list[str]]) -> list[Skip]:
    return [Skip(customer_id=cid, reason="; ".join(found)) for cid, found in sorted(reasons.items())]


class ScoringActivities:
    """Construct once per worker; register `activities` on the main task queue."""

    def __init__(self, engine: AsyncEngine, *, models_dir: Path) -> None:
        self.engine = engine
        self.store = EventStore(engine)
        self.models_dir = models_dir

    @activity.defn(name=NEXT_CUSTOMERS)
    async def next_customers(self, request: NextCustomersInput) -> CustomerPage:
        """Up to `limit` customers (in id order, after `after`) with reads on the new days."""
        # The days are local; a day either side covers every time zone.
        start = _midnight(request.since)
        end = _midnight(request.through + timedelta(days=2))
        async with self.engine.connect() as conn:
            customer_ids = await queries.customers_with_reads(
                conn, start=start, end=end, after=request.after, limit=request.limit
            )
        return CustomerPage(customer_ids=customer_ids)

    @activity.defn(name=SCORE_CUSTOMERS)
    async def score_customers(self, request: ScoreInput) -> ScoreResult:
        ids = request.customer_ids
        profiles = await self._profiles(ids)
        activity.heartbeat("reads")
        reads = await self._reads(ids, request.through)
        activity.heartbeat("outage and DR days")
        excluded = excluded_days(await self._exclusion_events(ids, request.through), profiles)
        zones = sorted({profile.time_zone for profile in profiles.values()})
        temperatures = await daily_temperatures(
            self.engine, zones, request.through - timedelta(days=LAST_YEAR[0]), request.through
        )
        detector, name = load_detector(self.models_dir, request.anomaly_model_version)
        activity.heartbeat("scoring")
        # Feature and model work is CPU-bound: off the event loop the worker shares with others.
        scored = await asyncio.to_thread(
            score_batch,
            reads,
            ids,
            profiles,
            since=request.since,
            through=request.through,
            detector=detector,
            detector_name=name,
            excluded=excluded,
            temperatures=temperatures,
        )
        activity.heartbeat("appending")
        try:
            results = await self.store.append(scored.events)
        except (UnknownEventType, ValidationError) as error:
            raise ApplicationError(str(error), type="InvalidEvent", non_retryable=True) from error
        fresh = {r.event_id for r in results if not r.duplicate}
        for skip in scored.reasons:
            log.info("scoring %s: no score for %s: %s", request.through, skip.customer_id, skip.reason)
        return ScoreResult(
            customers=len(ids),
            anomalies_appended=sum(
                e.event_id in fresh for e in scored.events if e.type == "meter.anomaly_detected"
            ),
            projections_appended=sum(
                e.event_id in fresh for e in scored.events if e.type == "bill.projection_updated"
            ),
            duplicates=sum(r.duplicate for r in results),
            skipped=len(scored.reasons),
            reasons=scored.reasons[:MAX_REASONS],
            detector=scored.detector,
            weather=scored.weather,
        )

    async def _profiles(self, ids: list[str]) -> dict[str, Profile]:
        async with self.engine.connect() as conn:
            rows = await scoring_profiles(conn, ids)
            found = {
                str(row.customer_id): Profile(
                    time_zone=row.time_zone or "UTC",
                    billing_cycle_day=_cycle_day((row.attributes or {}).get("billing_cycle_day")),
                    tariff=(row.attributes or {}).get("tariff"),
                )
                for row in rows
            }
        # Reads can arrive before the customer does: score them in UTC with a cycle from the 1st.
        return {cid: found.get(cid, Profile()) for cid in ids}

    async def _reads(self, ids: list[str], through: date) -> pd.DataFrame:
        end = _midnight(through + timedelta(days=2))
        recent = await load_reads(
            self.engine, customer_ids=ids, start=_midnight(through - timedelta(days=RECENT_DAYS)), end=end
        )
        last_year = await load_reads(
            self.engine,
            customer_ids=ids,
            start=_midnight(through - timedelta(days=LAST_YEAR[0])),
            end=_midnight(through - timedelta(days=LAST_YEAR[1])),
        )
        return pd.concat([last_year, recent], ignore_index=True) if len(last_year) else recent

    async def _exclusion_events(self, ids: list[str], through: date) -> list[queries.ExclusionEvent]:
        async with self.engine.connect() as conn:
            return await queries.exclusion_events(
                conn,
                ids,
                start=_midnight(through - timedelta(days=RECENT_DAYS + QUIET_DAYS)),
                end=_midnight(through + timedelta(days=2)),
            )

    @property
    def activities(self) -> list[Any]:
        return [self.next_customers, self.score_customers]


__all__ = ["Profile", "ScoringActivities", "excluded_days", "load_detector", "score_batch"]
