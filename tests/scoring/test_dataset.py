"""The labelled data set from a simulation's Parquet folder: each customer's features whole, however
the reads file is cut into row groups."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gridjourney.scoring import segmentation
from gridjourney.scoring.dataset import build, from_parquet, from_simulation, row_groups
from gridjourney.simulate import Simulation, SimulationConfig
from gridjourney.simulate.output import write_ground_truth


def _in_memory(sim: Simulation) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = from_simulation(sim)
    return data.daily, data.shapes


def test_from_parquet_keeps_customers_whole_across_row_groups(tmp_path: Path) -> None:
    sim = Simulation(SimulationConfig(customers=30, days=20, seed=3, interval_minutes=60))
    write_ground_truth(sim, tmp_path)
    # Row groups that cut customers in the middle, as pyarrow does at 1,048,576 rows on big runs
    # (each customer here has 20 * 24 = 480 reads).
    pq.write_table(
        pa.Table.from_pandas(sim.reads(), preserve_index=False),
        tmp_path / "reads.parquet",
        row_group_size=1000,
    )
    assert pq.ParquetFile(tmp_path / "reads.parquet").num_row_groups > 1
    data = from_parquet(tmp_path)
    assert not data.shapes.index.duplicated().any()
    assert not data.daily.duplicated(["customer_id", "date"]).any()
    daily, shapes = _in_memory(sim)
    pd.testing.assert_frame_equal(data.shapes.sort_index(), shapes.sort_index())
    key = ["customer_id", "date"]
    pd.testing.assert_frame_equal(
        data.daily.sort_values(key).reset_index(drop=True), daily.sort_values(key).reset_index(drop=True)
    )
    # Blocks, not row groups (15 of them): the only cut between two customers is at read 12,000, the
    # end of the 25th customer.
    assert row_groups(tmp_path) == 2
    # What `gridjourney models train` computes on it.
    model = segmentation.fit_segments(data.shapes, k=4, seed=0)
    assigned = model.assign(data.shapes).set_index("customer_id")["segment"]
    ari = segmentation.adjusted_rand(data.customers.set_index("customer_id")["archetype"], assigned)
    assert -1.0 <= ari <= 1.0


def test_build_refuses_a_customer_split_across_blocks() -> None:
    sim = Simulation(SimulationConfig(customers=4, days=10, seed=3, interval_minutes=60))
    reads = sim.reads()
    halves = [reads.iloc[: len(reads) // 2 + 7], reads.iloc[len(reads) // 2 + 7 :]]
    with pytest.raises(ValueError, match="split across blocks"):
        build(sim.customers, sim.anomalies(), [], sim.daily_temperatures(), halves, sim.config.days)
