"""SCORE_CUSTOMER: a journey's `score` step — refresh one propensity score of one customer.

The named saved model (gridjourney/scoring/registry.py, `gridjourney models train`) scores the
customer's features: their attributes (from the customers projection) and their usage over the last
HISTORY days of meter reads (gridjourney/metering). The result is appended as `customer.updated` with
`attributes.scores.<score>` and `attributes.scores_updated_at.<score>` (the workflow's time), under the
event id the workflow derived, so a retried call writes nothing twice.

Attributes are merged one level deep by the customers projection, so the event carries the whole
`scores` map: the customer's current one (the projection's, brought up to date with the customer's
events it has not applied yet) with this score replaced.

Permanent reasons for no score — no trained model, a model that does not match the code's features,
an unknown customer, no or too few reads — are an outcome `skipped` with the reason, never an error:
the journey goes on. Only transient failures (the database) raise, for Temporal to retry.

Temperatures are not stored with the reads: degree-days count as none (heating and cooling slopes of
0), as in the daily scoring scan (gridjourney/scoring/customer_scores.py), so both give a customer the
same score from the same reads. Scores are rounded to 4 decimals, as there.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import customers, events
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.metering.features import daily_features, load_shapes
from gridjourney.metering.store import load_reads
from gridjourney.scoring import propensity
from gridjourney.scoring.registry import FeatureMismatch, list_models, load_model
from gridjourney.workflows.contracts import ScoreCustomerInput, ScoreOutcome

SOURCE = "gridjourney.journey"
HISTORY = timedelta(days=90)  # reads used for the usage features


class NoScore(Exception):
    """A permanent reason not to score; the message is the reason recorded."""


@dataclass
class CustomerSnapshot:
    """The customer as the latest of their events leave them (projection plus events not yet applied)."""

    time_zone: str = "UTC"
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def scores(self) -> dict[str, Any]:
        value = self.attributes.get("scores")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def scores_updated_at(self) -> dict[str, Any]:
        value = self.attributes.get("scores_updated_at")
        return dict(value) if isinstance(value, dict) else {}


def _merge(snapshot: CustomerSnapshot, payload: dict[str, Any]) -> None:
    """What the customers projection does with one customer.created / customer.updated."""
    if payload.get("time_zone"):
        snapshot.time_zone = str(payload["time_zone"])
    for key, value in (payload.get("attributes") or {}).items():
        if value is None:
            snapshot.attributes.pop(key, None)
        else:
            snapshot.attributes[key] = value


async def customer_snapshot(engine: AsyncEngine, customer_id: str) -> CustomerSnapshot | None:
    """None when no event has created or updated the customer."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(customers.c.time_zone, customers.c.attributes, customers.c.last_position).where(
                    customers.c.customer_id == customer_id
                )
            )
        ).first()
        after = 0 if row is None else int(row.last_position)
        newer = (
            await conn.execute(
                select(events.c.payload)
                .where(
                    events.c.customer_id == customer_id,
                    events.c.type.in_(("customer.created", "customer.updated")),
                    events.c.position > after,
                )
                .order_by(events.c.position)
            )
        ).scalars()
        payloads = [dict(payload) for payload in newer]
    if row is None and not payloads:
        return None
    snapshot = (
        CustomerSnapshot()
        if row is None
        else CustomerSnapshot(time_zone=row.time_zone, attributes=dict(row.attributes))
    )
    for payload in payloads:
        _merge(snapshot, payload)
    return snapshot


def _updated_at(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _fresh(snapshot: CustomerSnapshot, request: ScoreCustomerInput) -> ScoreOutcome | None:
    """The current score, when it was computed less than max_age before the step."""
    if request.max_age is None:
        return None
    value = snapshot.scores.get(request.score)
    at = _updated_at(snapshot.scores_updated_at.get(request.score))
    if not isinstance(value, int | float) or at is None or at.tzinfo is None:
        return None
    if request.occurred_at - at >= request.max_age:
        return None
    return ScoreOutcome(status="fresh", score=request.score, value=float(value), updated_at=at)


def customer_frame(customer_id: str, attributes: dict[str, Any]) -> pd.DataFrame:
    """The one-row customers frame propensity.customer_features expects; absent attributes are missing."""
    if all(attributes.get(name) is None for name in propensity.CUSTOMER_ATTRIBUTES):
        raise NoScore("no customer attributes to score (sqft, tariff, dwelling, ...)")
    return propensity.customer_table([(customer_id, attributes)])


def features_of(
    customer_id: str, attributes: dict[str, Any], reads: pd.DataFrame, time_zone: str
) -> pd.DataFrame:
    """The model's feature row for one customer. Raises NoScore with the reason when there is none."""
    frame = customer_frame(customer_id, attributes)
    if reads.empty:
        raise NoScore("no meter reads")
    daily = daily_features(reads, time_zone=time_zone)
    daily = daily.assign(hdd=0.0, cdd=0.0)  # no stored temperatures (module docstring)
    features, skipped = propensity.customer_features(frame, daily, load_shapes(reads, time_zone=time_zone))
    if not skipped.empty:
        raise NoScore(str(skipped["reason"].iloc[0]))
    return features.astype(np.float64)


@dataclass
class Scoring:
    """The SCORE_CUSTOMER activity's work; models are loaded once per saved version."""

    engine: AsyncEngine
    models_dir: Path
    store: EventStore = field(init=False)
    _models: dict[Path, propensity.PropensityModel] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.store = EventStore(self.engine)

    def model(self, name: str, version: int | None) -> tuple[propensity.PropensityModel, int]:
        """(model, version). Raises NoScore when there is no usable saved model."""
        saved = [a for a in list_models(self.models_dir) if a.name == name]
        chosen = [a for a in saved if version is None or a.version == version]
        if not chosen:
            if not saved:
                raise NoScore(
                    f"no trained {name} model in {self.models_dir} (run `gridjourney models train`)"
                )
            raise NoScore(f"no {name} v{version}; saved: {', '.join(f'v{a.version}' for a in saved)}")
        artifact = chosen[-1]
        if artifact.path not in self._models:
            try:
                model, _ = load_model(
                    self.models_dir, name, features=propensity.FEATURES, version=artifact.version
                )
            except FeatureMismatch as error:
                raise NoScore(str(error)) from error
            if not isinstance(model, propensity.PropensityModel):
                raise NoScore(f"{name} v{artifact.version} is not a propensity model")
            self._models[artifact.path] = model
        return self._models[artifact.path], artifact.version

    async def score(self, request: ScoreCustomerInput) -> ScoreOutcome:
        snapshot = await customer_snapshot(self.engine, request.customer_id)
        if snapshot is None:
            return _skipped(request, "unknown customer")
        fresh = _fresh(snapshot, request)
        if fresh is not None:
            return fresh
        try:
            model, version = await asyncio.to_thread(self.model, request.model, request.version)
            reads = await load_reads(
                self.engine,
                customer_ids=[request.customer_id],
                start=request.occurred_at - HISTORY,
                end=request.occurred_at,
            )
            value = await asyncio.to_thread(_score, model, request.customer_id, snapshot, reads)
        except NoScore as reason:
            return _skipped(request, str(reason))
        return await self._write(request, snapshot, value, version)

    async def _write(
        self, request: ScoreCustomerInput, snapshot: CustomerSnapshot, value: float, version: int
    ) -> ScoreOutcome:
        event_id = uuid.UUID(request.event_id)
        attributes = {
            "scores": {**snapshot.scores, request.score: value},
            "scores_updated_at": {
                **snapshot.scores_updated_at,
                request.score: request.occurred_at.isoformat(),
            },
        }
        [result] = await self.store.append(
            [
                NewEvent(
                    event_id=event_id,
                    type="customer.updated",
                    customer_id=request.customer_id,
                    occurred_at=request.occurred_at,
                    source=SOURCE,
                    payload={"attributes": attributes},
                )
            ]
        )
        if result.duplicate:  # a retry: the first call's score is the one on record
            stored = await self.store.get(event_id)
            if stored is not None:
                value = float(stored.payload["attributes"]["scores"][request.score])
        return ScoreOutcome(
            status="scored",
            score=request.score,
            value=value,
            updated_at=request.occurred_at,
            model_version=version,
        )


def _score(
    model: propensity.PropensityModel, customer_id: str, snapshot: CustomerSnapshot, reads: pd.DataFrame
) -> float:
    features = features_of(customer_id, snapshot.attributes, reads, snapshot.time_zone)
    return round(float(model.score(features).iloc[0]), 4)


def _skipped(request: ScoreCustomerInput, reason: str) -> ScoreOutcome:
    return ScoreOutcome(status="skipped", score=request.score, reason=reason)
