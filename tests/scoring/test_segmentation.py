"""Load-shape segments: names kept across retraining (the same archetype keeps its name), new names
only for new habits; and the segments against the planted archetypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridjourney.scoring import segmentation
from gridjourney.scoring.dataset import Dataset, build
from gridjourney.scoring.registry import data_hash, save_model
from gridjourney.scoring.training import split
from gridjourney.simulate import Simulation, SimulationConfig


@pytest.fixture(scope="module")
def another_simulation() -> Dataset:
    """A new population (another seed): the customers and their noise differ, the archetypes do not."""
    sim = Simulation(SimulationConfig(customers=500, days=35, seed=77, interval_minutes=60))
    blocks = sim.read_blocks()
    return build(sim.customers, sim.anomalies(), sim.dr_event_dates(), sim.daily_temperatures(), blocks, 35)


def _names_by_archetype(model: segmentation.SegmentModel, data: Dataset) -> pd.Series:
    """Each planted archetype's most common segment name."""
    inputs = segmentation.segment_inputs(data.shapes, data.daily)
    assigned = model.assign(inputs).set_index("customer_id")["segment_name"]
    archetype = data.customers.set_index("customer_id")["archetype"]
    joined = pd.concat([archetype, assigned], axis=1, join="inner").dropna()
    return joined.groupby("archetype")["segment_name"].agg(lambda names: names.mode().iloc[0])


def test_retraining_on_a_new_seed_keeps_the_names(
    dataset: Dataset, another_simulation: Dataset, tmp_path: Path
) -> None:
    first = segmentation.fit_segments(dataset.shapes, dataset.daily, seed=0)
    save_model(tmp_path, "segmentation", first, features=segmentation.FEATURES, parameters={},
               data_digest=data_hash(dataset.shapes), evaluation={})  # fmt: skip
    previous = segmentation.previous_model(tmp_path)
    assert previous is not None and previous.names == first.names
    second = segmentation.fit_segments(
        another_simulation.shapes, another_simulation.daily, seed=5, previous=previous
    )
    before, after = _names_by_archetype(first, dataset), _names_by_archetype(second, another_simulation)
    # The habits found as a segment of their own in both populations keep their names (an EV, a home
    # all day and electric heating share segments with others in one population or the other).
    distinct = ["business_hours", "evening_peak", "night_owl", "solar_export", "low_use"]
    assert before[distinct].tolist() == after[distinct].tolist(), pd.concat([before, after], axis=1)
    assert before["low_use"].startswith("Low use") and not before["evening_peak"].startswith("Low use")
    assert len(set(second.names)) == len(second.names)


def test_refitting_the_same_customers_keeps_nearly_every_customer_s_name(dataset: Dataset) -> None:
    first = segmentation.fit_segments(dataset.shapes, k=8, seed=0)
    resample = dataset.shapes.sample(frac=0.8, random_state=3)
    again = segmentation.fit_segments(resample, k=8, seed=9, previous=first)
    old = first.assign(dataset.shapes).set_index("customer_id")["segment_name"]
    new = again.assign(dataset.shapes).set_index("customer_id")["segment_name"]
    # What moves is K-means' own doing: customers between two habits that change sides.
    assert (old == new).mean() >= 0.8


def test_a_segment_without_a_partner_is_named_from_its_shape() -> None:
    flat = np.full(48, 1 / 24)
    evening = np.concatenate([np.eye(24)[19], np.eye(24)[19]])
    night = np.concatenate([np.eye(24)[2], np.eye(24)[2]])
    previous = (np.stack([flat, evening]), ["Steady (from last year)", "Evening (from last year)"])
    names = segmentation.name_segments(np.stack([evening * 0.98 + 0.001, night, flat]), previous)
    assert names[0] == "Evening (from last year)" and names[2] == "Steady (from last year)"
    assert names[1] == segmentation.describe_centroid(night)
    assert segmentation.mutual_nearest(np.stack([flat, night]), np.stack([flat])) == [(0, 0)]


def test_no_previous_model_in_an_empty_folder(tmp_path: Path) -> None:
    assert segmentation.previous_model(tmp_path) is None


ARI_GOAL = 0.85


@pytest.mark.parametrize("population", ["dataset", "another_simulation"])
def test_segments_match_the_planted_archetypes_on_held_out_customers(
    population: str, request: pytest.FixtureRequest
) -> None:
    """Fitted on the training customers with k chosen by the model, scored on the held-out ones (the
    split `models train` uses); the archetypes are only the answer key, never an input."""
    data: Dataset = request.getfixturevalue(population)
    train, held_out = split(data)
    model = segmentation.fit_segments(train.shapes, train.daily, seed=0)
    assigned = model.assign(segmentation.segment_inputs(held_out.shapes, held_out.daily))
    truth = held_out.customers.set_index("customer_id")["archetype"]
    ari = segmentation.adjusted_rand(truth, assigned.set_index("customer_id")["segment"])
    assert ari >= ARI_GOAL, (model.k, ari)
    assert 8 <= model.k <= 14 and len(set(model.names)) == len(model.names)


def test_segment_inputs_level_and_weather_sensitivity() -> None:
    degree_days = np.arange(20, dtype=float)
    daily = pd.DataFrame(
        {
            "customer_id": ["heated"] * 20 + ["steady"] * 20,
            "kwh": np.concatenate([10 + 2 * degree_days, np.full(20, 10.0)]),
            "peak_kw": [2.0] * 20 + [1.0] * 20,
            "baseload_kwh": [0.5] * 40,
            "hdd": np.concatenate([degree_days, degree_days]),
            "cdd": 0.0,
            "coverage": 1.0,
        }
    )
    shapes = pd.DataFrame(1 / 24, index=pd.Index(["heated", "steady", "no days"], name="customer_id"),
                          columns=list(segmentation.SHAPE_COLUMNS))  # fmt: skip
    inputs = segmentation.segment_inputs(shapes, daily)
    # 2 kWh more per degree-day, per kW of peak: 1.0; use that ignores the weather: 0.
    assert inputs.loc["heated", "weather_sensitivity"] == pytest.approx(1.0)
    assert inputs.loc["steady", "weather_sensitivity"] == pytest.approx(0.0)
    assert inputs.loc["heated", "log_peak_kw"] == pytest.approx(np.log(2.0))
    without_weather = segmentation.segment_inputs(shapes, daily.assign(hdd=np.nan))
    assert (without_weather["weather_sensitivity"].fillna(0.0) == 0.0).all()
