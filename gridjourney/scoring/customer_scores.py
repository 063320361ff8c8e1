"""Segments and propensity scores written to customers, as `customer.updated` events.

Each scored customer gets `attributes: {segment: <name>, scores: {dr_propensity: ..., churn_risk:
...}}`, so journeys branch on `customer.segment` and `customer.scores.dr_propensity`. The saved
models are loaded by name (the latest version unless told): segmentation, dr_enrolment (the DR
propensity) and churn. Event ids are derived from the customer, the day and the model versions, so
running it twice on a day appends nothing twice. A customer without enough reads, or a model not
trained yet, is reported with the reason and left as it is.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.metering.features import customer_temperatures, daily_features, load_shapes
from gridjourney.metering.store import load_reads
from gridjourney.projections.queries import scoring_profiles
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.scoring import propensity, queries, segmentation
from gridjourney.scoring.registry import FeatureMismatch, load_model
from gridjourney.scoring.tariff_scores import add_tariff_scores
from gridjourney.weather.queries import daily_temperatures

SOURCE = "scoring"
NAMESPACE = uuid.UUID("3b0e6a1c-5d2f-4e8a-9c71-2f4b8d6e0a13")
HISTORY_DAYS = 90
BATCH = 1000
# attribute -> (saved model, what it predicts)
SCORE_MODELS = {"dr_propensity": "dr_enrolment", "churn_risk": "churn"}
NO_WEATHER = "no temperatures stored for these zones: weather-free features (degree-days and their slopes 0)"
log = logging.getLogger(__name__)


@dataclass
class ScoreReport:
    scored: int = 0
    appended: int = 0
    duplicates: int = 0
    as_of: date | None = None
    models: dict[str, str] = field(default_factory=dict)  # name -> "v3" or the reason it is missing
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (customer_id, reason)
    weather: str = ""  # where the degree-days came from, or NO_WEATHER


@dataclass(frozen=True)
class Models:
    segments: segmentation.SegmentModel | None
    scores: dict[str, propensity.PropensityModel]
    versions: dict[str, str]


def load_models(models_dir: Path) -> Models:
    versions: dict[str, str] = {}
    segments: segmentation.SegmentModel | None = None
    try:
        model, artifact = load_model(models_dir, "segmentation", features=segmentation.FEATURES)
        segments, versions["segmentation"] = model, f"v{artifact.version}"
    except (FileNotFoundError, FeatureMismatch) as error:
        versions["segmentation"] = f"not used: {error}"
    scores: dict[str, propensity.PropensityModel] = {}
    for attribute, name in SCORE_MODELS.items():
        try:
            model, artifact = load_model(models_dir, name, features=propensity.FEATURES)
            scores[attribute], versions[name] = model, f"v{artifact.version}"
        except (FileNotFoundError, FeatureMismatch) as error:
            versions[name] = f"not used: {error}"
    return Models(segments, scores, versions)


def score_frame(
    customers: pd.DataFrame,
    reads: pd.DataFrame,
    zones: dict[str, str],
    models: Models,
    temperatures: pd.DataFrame | None = None,
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """({customer_id: attributes to write}, [(customer_id, reason)]) — pure computation.
    `temperatures`: time_zone, date, temperature_c (weather/queries.py daily_temperatures)."""
    out: dict[str, dict[str, Any]] = {}
    skipped: list[tuple[str, str]] = []
    present = set(reads["customer_id"]) if len(reads) else set()
    for cid in customers["customer_id"]:
        if cid not in present:
            skipped.append((str(cid), "no reads in the last days scored"))
    if not present:
        return out, skipped
    reads = reads[reads["customer_id"].isin(set(customers["customer_id"]))]
    daily = daily_features(
        reads,
        time_zone={c: zones.get(c, "UTC") for c in present},
        temperatures=customer_temperatures(temperatures, {c: zones.get(c, "UTC") for c in present}),
    )
    shapes = load_shapes(reads, time_zone={c: zones.get(c, "UTC") for c in present})
    if models.segments is not None:
        assigned = models.segments.assign(segmentation.segment_inputs(shapes, daily))
        for row in assigned.itertuples():
            if row.segment_name is not None:
                out.setdefault(str(row.customer_id), {})["segment"] = str(row.segment_name)
            else:
                skipped.append((str(row.customer_id), f"segment: {row.reason}"))
    if models.scores:
        # Days without a stored temperature: the weather-free form (slopes of 0), never made-up weather.
        daily = daily.assign(hdd=daily["hdd"].fillna(0.0), cdd=daily["cdd"].fillna(0.0))
        features, short = propensity.customer_features(customers, daily, shapes)
        skipped += [(str(r.customer_id), f"scores: {r.reason}") for r in short.itertuples()]
        features = features.astype(np.float64)
        for attribute, model in models.scores.items():
            for cid, value in model.score(features).items():
                out.setdefault(str(cid), {}).setdefault("scores", {})[attribute] = round(float(value), 4)
    return out, skipped


async def latest_read_day(engine: AsyncEngine, customer_ids: list[str]) -> date | None:
    """The latest day with a stored read of these customers, each read's day in its customer's own
    zone (at most today), None without reads. In UTC, a US home's last evening falls on the next
    day: a year of reads to 31 December would be priced from 2 January, short of a day."""
    async with engine.connect() as conn:
        latest = await queries.latest_read_day(conn, customer_ids)
    if latest is None:
        return None
    return min(latest, datetime.now(UTC).date())


async def write_customer_scores(
    engine: AsyncEngine,
    models_dir: Path,
    *,
    customer_ids: list[str] | None = None,
    as_of: date | None = None,
    progress: Callable[[int], None] = lambda done: None,
) -> ScoreReport:
    """Score the given customers (default: every customer with a profile), from the reads of the
    HISTORY_DAYS days up to `as_of` (default: the day of their latest stored read, in each one's
    zone, at most today, so that a simulation or a back-filled import is scored on its own reads),
    and append their customer.updated."""
    models = load_models(models_dir)
    report = ScoreReport(models=dict(models.versions))
    if models.segments is None and not models.scores:
        # Tariff scores need no model: they are still written.
        report.skipped.append(
            ("*", "no segmentation or propensity model trained: run `gridjourney models train`")
        )
    # Customers are a projection: bring it up to date first, or customers just created (a simulation
    # written without a worker running) are not there. Safe beside a running worker (the projection's
    # checkpoint is locked per batch).
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        rows = await scoring_profiles(conn, customer_ids)
    known = {str(row.customer_id) for row in rows}
    day = as_of or await latest_read_day(engine, sorted(known)) or datetime.now(UTC).date()
    report.as_of = day
    report.skipped += [(cid, "no such customer") for cid in customer_ids or [] if cid not in known]
    store = EventStore(engine)
    tag = ",".join(f"{k}={v}" for k, v in sorted(models.versions.items()) if v.startswith("v"))
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    stamped = min(datetime.now(UTC), end - timedelta(seconds=1))
    for offset in range(0, len(rows), BATCH):
        batch = rows[offset : offset + BATCH]
        ids = [str(row.customer_id) for row in batch]
        reads = await load_reads(engine, customer_ids=ids, start=end - timedelta(days=HISTORY_DAYS), end=end)
        customers = propensity.customer_table(
            [(str(row.customer_id), dict(row.attributes or {})) for row in batch]
        )
        zones = {str(row.customer_id): row.time_zone or "UTC" for row in batch}
        start = end - timedelta(days=HISTORY_DAYS)
        temperatures = await daily_temperatures(
            engine, sorted(set(zones.values())), start.date(), end.date() - timedelta(days=1)
        )
        if temperatures.empty and not report.weather:
            report.weather = NO_WEATHER
            log.info(NO_WEATHER)  # once per run, not per batch
        elif not temperatures.empty and report.weather != NO_WEATHER:
            report.weather = f"daily mean temperatures of {temperatures['time_zone'].nunique()} zone(s)"
        attributes, skipped = score_frame(customers, reads, zones, models, temperatures)
        report.skipped += skipped
        report.skipped += await add_tariff_scores(engine, attributes, batch, end)  # scoring/tariff_scores.py
        events = [
            NewEvent(
                event_id=uuid.uuid5(NAMESPACE, f"customer-scores:{cid}:{day.isoformat()}:{tag}"),
                type="customer.updated",
                customer_id=cid,
                occurred_at=stamped,
                source=SOURCE,
                payload={"attributes": values},
            )
            for cid, values in sorted(attributes.items())
        ]
        results = await store.append(events)
        report.scored += len(events)
        report.appended += sum(not r.duplicate for r in results)
        report.duplicates += sum(r.duplicate for r in results)
        progress(len(batch))
    return report
