"""SCORE_CUSTOMER against real Postgres, with a small propensity model trained here on simulated data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities import JourneyActivities
from gridjourney.activities.scores import features_of
from gridjourney.config import Settings
from gridjourney.db.tables import events
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.metering.store import copy_reads
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.scoring import propensity
from gridjourney.scoring.dataset import build
from gridjourney.scoring.registry import data_hash, save_model
from gridjourney.simulate import Simulation, SimulationConfig
from gridjourney.simulate.output import VISIBLE_ATTRIBUTES
from gridjourney.workflows.contracts import LoadContextInput, ScoreCustomerInput


@dataclass(frozen=True)
class Trained:
    models_dir: Path
    model: propensity.PropensityModel
    customer: dict[str, Any]  # one simulated customer's row
    reads: pd.DataFrame  # that customer's hourly reads


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """dr_enrolment v1 trained on 150 simulated customers x 21 days of hourly reads (about 2 s)."""
    sim = Simulation(SimulationConfig(customers=150, days=21, seed=5, interval_minutes=60))
    blocks = list(sim.read_blocks())
    data = build(sim.customers, sim.anomalies(), sim.dr_event_dates(), sim.daily_temperatures(), blocks, 21)
    features, _ = propensity.customer_features(data.customers, data.daily)
    model, figures, _ = propensity.train_propensity("dr_enrolment", features, data.customers)
    models_dir = tmp_path_factory.mktemp("models")
    save_model(
        models_dir,
        "dr_enrolment",
        model,
        features=propensity.FEATURES,
        parameters=propensity.PARAMS,
        data_digest=data_hash(features),
        evaluation=figures,
    )
    reads = pd.concat(blocks, ignore_index=True)
    customer = {str(key): value for key, value in sim.customers.iloc[0].items()}
    return Trained(models_dir, model, customer, reads[reads["customer_id"] == customer["customer_id"]])


def scoring(engine: AsyncEngine, models_dir: Path) -> JourneyActivities:
    return JourneyActivities(engine, Settings(), {}, models_dir=models_dir)


def plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


async def add_customer(engine: AsyncEngine, trained: Trained, customer_id: str, *, days: int = 21) -> None:
    """customer.created with the simulated attributes (and an older churn score), and `days` of reads."""
    row = trained.customer
    attributes = {key: plain(row[key]) for key in VISIBLE_ATTRIBUTES}
    attributes["scores"] = {"churn_risk": 0.25}
    await EventStore(engine).append(
        [
            NewEvent(
                event_id=uuid.uuid4(),
                type="customer.created",
                customer_id=customer_id,
                occurred_at=datetime(2024, 4, 1, tzinfo=UTC),
                source="test",
                payload={"name": "Ana", "time_zone": row["time_zone"], "attributes": attributes},
            )
        ]
    )
    reads = trained.reads.copy()
    reads = reads[reads["read_at"] < reads["read_at"].min() + timedelta(days=days)]
    reads["customer_id"] = customer_id
    await copy_reads(engine, reads)


def request(
    trained: Trained, customer_id: str, model: str = "dr_enrolment", **fields: Any
) -> ScoreCustomerInput:
    after_reads = trained.reads["read_at"].max().to_pydatetime() + timedelta(hours=1)
    score = {"dr_enrolment": "dr_propensity", "churn": "churn_risk"}[model]
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "customer_id": customer_id,
        "score": score,
        "model": model,
        "occurred_at": after_reads,
    }
    return ScoreCustomerInput(**(values | fields))


async def count_events(engine: AsyncEngine, customer_id: str) -> int:
    query = select(func.count()).select_from(events).where(events.c.customer_id == customer_id)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_the_score_lands_in_the_customers_attributes(engine: AsyncEngine, trained: Trained) -> None:
    await add_customer(engine, trained, "c-1")
    activities = scoring(engine, trained.models_dir)
    asked = request(trained, "c-1")
    outcome = await activities.score_customer(asked)

    attributes = {key: plain(trained.customer[key]) for key in VISIBLE_ATTRIBUTES}
    reads = trained.reads.assign(customer_id="c-1")
    expected = trained.model.score(features_of("c-1", attributes, reads, trained.customer["time_zone"])).iloc[
        0
    ]
    assert outcome.status == "scored"
    assert outcome.value == round(expected, 4)
    assert outcome.value is not None and 0.0 < outcome.value < 1.0
    assert (outcome.model_version, outcome.updated_at) == (1, asked.occurred_at)

    await ProjectionRunner(engine).catch_up()
    context = await activities.load_context(LoadContextInput(customer_id="c-1"))
    # the new score beside the churn score the customer already had
    assert context.attributes["scores"] == {"churn_risk": 0.25, "dr_propensity": outcome.value}
    assert context.attributes["scores_updated_at"] == {"dr_propensity": asked.occurred_at.isoformat()}
    assert context.attributes["tariff"] == trained.customer["tariff"]

    # the same request again (a retry) writes nothing and answers the score on record
    events_before = await count_events(engine, "c-1")
    again = await activities.score_customer(asked)
    assert (again.status, again.value) == ("scored", outcome.value)
    assert await count_events(engine, "c-1") == events_before


async def test_a_fresh_score_is_kept_and_an_old_one_refreshed(engine: AsyncEngine, trained: Trained) -> None:
    await add_customer(engine, trained, "c-2")
    activities = scoring(engine, trained.models_dir)
    first = await activities.score_customer(request(trained, "c-2"))
    assert first.updated_at is not None
    events_after_first = await count_events(engine, "c-2")
    # not projected yet: the activity still finds the score among the customer's newer events
    later = request(
        trained, "c-2", max_age=timedelta(days=7), occurred_at=first.updated_at + timedelta(days=2)
    )
    fresh = await activities.score_customer(later)
    assert (fresh.status, fresh.value, fresh.updated_at) == ("fresh", first.value, first.updated_at)
    assert fresh.outcome == f"fresh:{first.value:.3f}"
    assert await count_events(engine, "c-2") == events_after_first

    stale = request(
        trained, "c-2", max_age=timedelta(days=1), occurred_at=first.updated_at + timedelta(days=2)
    )
    refreshed = await activities.score_customer(stale)
    assert refreshed.status == "scored"
    assert await count_events(engine, "c-2") == events_after_first + 1
    await ProjectionRunner(engine).catch_up()
    context = await activities.load_context(LoadContextInput(customer_id="c-2"))
    assert context.attributes["scores_updated_at"] == {"dr_propensity": stale.occurred_at.isoformat()}


async def test_no_model_gives_skipped_with_the_reason(
    engine: AsyncEngine, trained: Trained, tmp_path: Path
) -> None:
    await add_customer(engine, trained, "c-3")
    events_before = await count_events(engine, "c-3")

    untrained = await scoring(engine, trained.models_dir).score_customer(
        request(trained, "c-3", model="churn")
    )
    assert untrained.status == "skipped"
    assert untrained.reason is not None and untrained.reason.startswith("no trained churn model in ")
    assert untrained.outcome == f"skipped:{untrained.reason}"

    empty = await scoring(engine, tmp_path / "none").score_customer(request(trained, "c-3"))
    assert empty.status == "skipped" and "run `gridjourney models train`" in str(empty.reason)

    no_version = await scoring(engine, trained.models_dir).score_customer(request(trained, "c-3", version=9))
    assert (no_version.status, no_version.reason) == ("skipped", "no dr_enrolment v9; saved: v1")
    assert await count_events(engine, "c-3") == events_before


async def test_a_model_with_other_features_is_refused(
    engine: AsyncEngine, trained: Trained, tmp_path: Path
) -> None:
    await add_customer(engine, trained, "c-4")
    save_model(
        tmp_path,
        "churn",
        trained.model,
        features=("kwh_mean",),
        parameters={},
        data_digest="x",
        evaluation={},
    )
    outcome = await scoring(engine, tmp_path).score_customer(request(trained, "c-4", model="churn"))
    assert outcome.status == "skipped"
    assert "trained on other features than this code computes" in str(outcome.reason)


async def test_too_little_data_gives_no_score(engine: AsyncEngine, trained: Trained) -> None:
    activities = scoring(engine, trained.models_dir)
    await add_customer(engine, trained, "c-5", days=5)
    short = await activities.score_customer(request(trained, "c-5"))
    assert (short.status, short.reason) == ("skipped", "5 days of reads; 14 needed")

    await add_customer(engine, trained, "c-6", days=0)
    none = await activities.score_customer(request(trained, "c-6"))
    assert (none.status, none.reason) == ("skipped", "no meter reads")

    ghost = await activities.score_customer(request(trained, "ghost"))
    assert (ghost.status, ghost.reason) == ("skipped", "unknown customer")
    assert await count_events(engine, "ghost") == 0
