"""Segments and propensity scores written to customers (customer.updated), on the test Postgres with
models trained on the shared simulation: journeys then see customer.segment and customer.scores.*."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.context import load_customer
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.scoring import propensity, segmentation
from gridjourney.scoring.customer_scores import NO_WEATHER, write_customer_scores
from gridjourney.scoring.dataset import Dataset
from gridjourney.scoring.registry import data_hash, save_model
from gridjourney.simulate import Simulation, SimulationConfig
from gridjourney.simulate.output import write_simulation


def train(dataset: Dataset, directory: Path) -> None:
    seg = segmentation.fit_segments(dataset.shapes, k=6)
    save_model(directory, "segmentation", seg, features=segmentation.FEATURES, parameters={},
               data_digest=data_hash(dataset.shapes), evaluation={})  # fmt: skip
    features, _ = propensity.customer_features(dataset.customers, dataset.daily)
    for name in ("dr_enrolment", "churn"):
        model, _, _ = propensity.train_propensity(name, features, dataset.customers)
        save_model(directory, name, model, features=propensity.FEATURES, parameters={},
                   data_digest=data_hash(features), evaluation={})  # fmt: skip


async def test_scores_and_segments_become_customer_attributes(
    engine: AsyncEngine, dataset: Dataset, tmp_path: Path
) -> None:
    train(dataset, tmp_path)
    sim = Simulation(SimulationConfig(customers=12, days=30, seed=5, interval_minutes=60))
    await write_simulation(sim, parquet_dir=None, engine=engine)
    await ProjectionRunner(engine).catch_up()
    last_day = sim.config.start + timedelta(days=sim.config.days - 1)
    ids = list(sim.customers["customer_id"])
    report = await write_customer_scores(engine, tmp_path, customer_ids=[*ids, "nobody"], as_of=last_day)
    assert report.scored == 12 and report.appended == 12
    assert report.models == {"segmentation": "v1", "dr_enrolment": "v1", "churn": "v1"}
    assert report.skipped == [("nobody", "no such customer")]
    # the simulation stored its zones' weather: the degree-day features use it
    assert report.weather.startswith("daily mean temperatures of "), report.weather
    await ProjectionRunner(engine).catch_up()
    record = await load_customer(engine, ids[0])
    assert record is not None
    assert isinstance(record.attributes["segment"], str) and record.attributes["segment"]
    scores = record.attributes["scores"]
    assert {"dr_propensity", "churn_risk", "best_tariff", "best_tariff_savings"} <= set(scores)
    assert 0.0 <= scores["dr_propensity"] <= 1.0 and 0.0 <= scores["churn_risk"] <= 1.0
    # the simulator's attributes are still there (attributes merge)
    assert record.attributes["billing_cycle_day"] == int(
        pd.Series(sim.customers["billing_cycle_day"]).iloc[0]
    )
    # the same day again: nothing new
    again = await write_customer_scores(engine, tmp_path, customer_ids=ids, as_of=last_day)
    assert again.appended == 0 and again.duplicates == 12


async def test_without_models_only_the_tariff_scores_are_written(engine: AsyncEngine, tmp_path: Path) -> None:
    sim = Simulation(SimulationConfig(customers=3, days=30, seed=5, interval_minutes=60))
    await write_simulation(sim, parquet_dir=None, engine=engine)
    last_day = sim.config.start + timedelta(days=sim.config.days - 1)
    report = await write_customer_scores(engine, tmp_path, as_of=last_day)
    assert all(version.startswith("not used: no saved model") for version in report.models.values())
    assert "gridjourney models train" in report.skipped[0][1]
    assert report.scored == 3 and report.appended == 3
    await ProjectionRunner(engine).catch_up()
    record = await load_customer(engine, str(sim.customers["customer_id"].iloc[0]))
    assert record is not None and "segment" not in record.attributes
    scores = record.attributes["scores"]
    assert "best_tariff" in scores and "dr_propensity" not in scores
    # 30 days of reads: the year is scaled and says so
    assert scores["tariff_year_scaled"] is True


async def test_scores_a_fresh_simulation_on_its_own_reads(
    engine: AsyncEngine, dataset: Dataset, tmp_path: Path
) -> None:
    # As `gridjourney simulate` then `gridjourney models score`: no worker has projected the customers
    # yet, and the simulated reads end long before today.
    train(dataset, tmp_path)
    sim = Simulation(SimulationConfig(customers=12, days=30, seed=5, interval_minutes=60))
    await write_simulation(sim, parquet_dir=None, engine=engine)
    report = await write_customer_scores(engine, tmp_path)
    # The simulation's last day, in its customers' zones (in UTC, a US evening is the next day).
    assert report.as_of == sim.config.start + timedelta(days=sim.config.days - 1)
    assert report.scored == 12 and report.skipped == []


async def test_without_weather_the_features_are_weather_free_and_say_so(
    engine: AsyncEngine, dataset: Dataset, tmp_path: Path
) -> None:
    train(dataset, tmp_path)
    sim = Simulation(SimulationConfig(customers=6, days=30, seed=6, interval_minutes=60))
    await write_simulation(sim, parquet_dir=None, engine=engine)
    async with engine.begin() as conn:  # as a utility that has not imported any weather yet
        await conn.execute(text("DELETE FROM weather_daily"))
    report = await write_customer_scores(engine, tmp_path)
    assert report.weather == NO_WEATHER
    assert report.scored == 6 and report.skipped == []
