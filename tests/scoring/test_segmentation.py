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
from gridjourney.simulate import Simulation, SimulationConfig


@pytest.fixture(scope="module")
def another_simulation() -> Dataset:
    """A new population (another seed): the customers and their noise differ, the archetypes do not."""
    sim = Simulation(SimulationConfig(customers=500, days=35, seed=77, interval_minutes=60))
    blocks = sim.read_blocks()
    return build(sim.customers, sim.anomalies(), sim.dr_event_dates(), sim.daily_temperatures(), blocks, 35)


def _names_by_archetype(model: segmentation.SegmentModel, data: Dataset) -> pd.Series:
    """Each planted archetype's most common segment name."""
    assigned = model.assign(data.shapes).set_index("customer_id")["segment_name"]
    archetype = data.customers.set_index("customer_id")["archetype"]
    joined = pd.concat([archetype, assigned], axis=1, join="inner").dropna()
    return joined.groupby("archetype")["segment_name"].agg(lambda names: names.mode().iloc[0])


def test_retraining_on_a_new_seed_keeps_the_names(
    dataset: Dataset, another_simulation: Dataset, tmp_path: Path
) -> None:
    first = segmentation.fit_segments(dataset.shapes, k=8, seed=0)
    save_model(tmp_path, "segmentation", first, features=segmentation.FEATURES, parameters={},
               data_digest=data_hash(dataset.shapes), evaluation={})  # fmt: skip
    previous = segmentation.previous_model(tmp_path)
    assert previous is not None and previous.names == first.names
    second = segmentation.fit_segments(another_simulation.shapes, k=8, seed=5, previous=previous)
    before, after = _names_by_archetype(first, dataset), _names_by_archetype(second, another_simulation)
    # The habits K-means finds as a segment of their own in both populations keep their names.
    distinct = ["business_hours", "evening_peak", "night_owl", "solar_export"]
    assert before[distinct].tolist() == after[distinct].tolist(), pd.concat([before, after], axis=1)
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
