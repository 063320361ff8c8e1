"""The simulator: same seed, same utility; ground truth in the promised shape; writes to Postgres."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import Settings
from gridjourney.simulate import ANOMALY_TYPES, ARCHETYPE_NAMES, Simulation, SimulationConfig
from gridjourney.simulate.output import write_simulation
from gridjourney.simulate.population import LOGIT_NOISE, averaged_over_noise, make_population
from gridjourney.simulate.weather import ZONES
from gridjourney.weather.queries import daily_temperatures
from gridjourney.weather.stations import SIMULATOR_STATIONS

SMALL = SimulationConfig(customers=60, days=35, seed=11, interval_minutes=60)


def test_same_seed_same_data_and_other_seed_differs() -> None:
    a, b = Simulation(SMALL), Simulation(SMALL)
    pd.testing.assert_frame_equal(a.reads(), b.reads())
    pd.testing.assert_frame_equal(a.anomalies(), b.anomalies())
    other = Simulation(SimulationConfig(customers=60, days=35, seed=12, interval_minutes=60))
    assert not a.reads()["kwh"].equals(other.reads()["kwh"])


def test_ground_truth_shape() -> None:
    sim = Simulation(SMALL)
    reads = sim.reads()
    assert len(reads) == 60 * 35 * 24
    assert reads["read_at"].dt.tz is not None
    assert set(sim.customers["archetype"]) <= set(ARCHETYPE_NAMES)
    assert sim.customers["time_zone"].nunique() >= 3
    planted = sim.anomalies()
    assert set(planted["anomaly_type"]) <= set(ANOMALY_TYPES)
    assert (planted["end"] >= planted["onset"]).all()
    labels = sim.labels()
    assert {"dr_enrolled", "dr_responder", "churned"} <= set(labels.columns)
    solar = sim.customers.loc[sim.customers["archetype"] == "solar_export", "customer_id"]
    assert (reads[reads["customer_id"].isin(solar)]["kwh"] < 0).any()  # midday export


async def test_writes_events_reads_and_parquet(engine: AsyncEngine, tmp_path: Path) -> None:
    sim = Simulation(SimulationConfig(customers=12, days=3, seed=5, interval_minutes=60))
    written = await write_simulation(sim, parquet_dir=tmp_path, engine=engine)
    assert written == 12 * 3 * 24
    async with engine.connect() as conn:
        created = await conn.scalar(text("SELECT count(*) FROM events WHERE type = 'customer.created'"))
        reads = await conn.scalar(text("SELECT count(*) FROM meter_reads"))
    assert created == 12
    assert reads == written
    assert len(pd.read_parquet(tmp_path / "reads.parquet")) == written
    await write_simulation(sim, parquet_dir=None, engine=engine)  # idempotent: same ids, same reads
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM events WHERE type = 'customer.created'")) == 12


async def test_the_weather_is_stored_per_zone_and_read_back_through_the_default_mapping(
    engine: AsyncEngine,
) -> None:
    sim = Simulation(SimulationConfig(customers=5, days=4, seed=5, interval_minutes=60))
    await write_simulation(sim, parquet_dir=None, engine=engine)
    await write_simulation(sim, parquet_dir=None, engine=engine)  # the same days: nothing doubles
    async with engine.connect() as conn:
        stored = await conn.scalar(text("SELECT count(*) FROM weather_daily WHERE source = 'simulator'"))
    assert stored == len(ZONES) * 4
    assert set(SIMULATOR_STATIONS) == set(ZONES)
    read = await daily_temperatures(
        engine, list(ZONES), sim.dates[0], sim.dates[-1], stations=Settings().weather_stations
    )
    truth = sim.daily_temperatures().sort_values(["time_zone", "date"], ignore_index=True)
    assert read["time_zone"].tolist() == truth["time_zone"].tolist()
    assert read["date"].tolist() == truth["date"].tolist()
    assert read["temperature_c"].tolist() == pytest.approx(truth["temperature_c"].tolist())
    mean = read.groupby("time_zone")["temperature_c"].mean()
    assert mean["America/Chicago"] < mean["America/Phoenix"]  # each zone keeps its climate


async def test_parquet_reads_have_one_row_group_per_block(tmp_path: Path) -> None:
    # 250 customers x 44 days x 96 reads = 1,056,000 rows: more than pyarrow's default row group.
    sim = Simulation(SimulationConfig(customers=250, days=44, seed=5, interval_minutes=15))
    written = await write_simulation(sim, parquet_dir=tmp_path, engine=None)
    meta = pq.ParquetFile(tmp_path / "reads.parquet").metadata
    assert meta.num_row_groups == sim.blocks == 1
    assert meta.num_rows == written == 1_056_000


def test_observable_propensity_is_the_true_one_averaged_over_the_hidden_noise() -> None:
    customers, _ = make_population(20_000, seed=3, days=35, anomaly_rate=0.0)
    for true, observable in (
        ("dr_enrol_propensity", "dr_enrol_propensity_observable"),
        ("dr_response_propensity", "dr_response_propensity_observable"),
        ("churn_risk", "churn_risk_observable"),
    ):
        # The noise is centred on the logit, so averaging it out keeps the population's mean ...
        assert abs(customers[true].mean() - customers[observable].mean()) < 0.01
        # ... and ranks customers as the drivers do, without the noise.
        assert customers[true].corr(customers[observable], method="spearman") < 0.99
    drivers = np.array([-3.0, 0.0, 2.0])
    rng = np.random.default_rng(0)
    sampled = (1 / (1 + np.exp(-(drivers[:, None] + rng.normal(0, LOGIT_NOISE, (3, 200_000)))))).mean(axis=1)
    np.testing.assert_allclose(averaged_over_noise(drivers), sampled, atol=2e-3)
