"""A labelled data set for training and evaluation: daily features, load shapes and ground truth,
from a simulation in memory or from the Parquet folder `gridjourney simulate` writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq

from gridjourney.metering.features import daily_features, load_shapes

if TYPE_CHECKING:
    from gridjourney.simulate import Simulation


@dataclass(frozen=True)
class Dataset:
    customers: pd.DataFrame  # attributes and hidden labels
    anomalies: pd.DataFrame  # planted: customer_id, anomaly_type, onset, end
    dr_days: list[date]
    daily: pd.DataFrame
    shapes: pd.DataFrame
    days: int

    @property
    def excluded(self) -> pd.DataFrame:
        return pd.DataFrame({"date": pd.to_datetime(pd.Series(self.dr_days, dtype=object))})


def _temperatures(customers: pd.DataFrame, temps: pd.DataFrame) -> pd.DataFrame:
    t = temps.merge(customers[["customer_id", "time_zone"]], on="time_zone")
    return pd.DataFrame(
        {"customer_id": t["customer_id"], "date": t["date"], "temp_f": t["temperature_c"] * 1.8 + 32}
    )


def build(
    customers: pd.DataFrame,
    anomalies: pd.DataFrame,
    dr_days: list[date],
    temperatures: pd.DataFrame,
    blocks: Iterable[pd.DataFrame],
    days: int,
    progress: Callable[[], None] = lambda: None,
) -> Dataset:
    zones = dict(zip(customers["customer_id"], customers["time_zone"], strict=True))
    temps = _temperatures(customers, temperatures)
    daily, shapes = [], []
    for block in blocks:
        daily.append(daily_features(block, time_zone=zones, temperatures=temps))
        shapes.append(load_shapes(block, time_zone=zones))
        progress()
    all_daily, all_shapes = pd.concat(daily, ignore_index=True), pd.concat(shapes)
    split = all_shapes.index[all_shapes.index.duplicated()].unique()
    if len(split):
        # Features of a customer whose reads are cut across blocks would be partial shapes and days.
        raise ValueError(
            f"reads of {len(split)} customers (e.g. {split[0]}) are split across blocks: "
            "each customer's reads must be in one block"
        )
    return Dataset(customers, anomalies, dr_days, all_daily, all_shapes, days)


def _customer_blocks(reads: pq.ParquetFile) -> list[list[int]]:
    """Row groups gathered so that every customer's reads fall in one group of row groups: a writer
    is free to cut row groups anywhere (pyarrow cuts at 1,048,576 rows), also inside a customer."""
    groups: list[list[int]] = []
    seen: set[str] = set()
    for i in range(reads.num_row_groups):
        ids = set(reads.read_row_group(i, columns=["customer_id"]).column(0).unique().to_pylist())
        if groups and ids & seen:
            groups[-1].append(i)
            seen |= ids
        else:
            groups.append([i])
            seen = ids
    return groups


def from_simulation(sim: Simulation) -> Dataset:
    """The dataset of a simulation held in memory (the tests, the real-reads protocol's training)."""
    return build(
        sim.customers,
        sim.anomalies(),
        sim.dr_event_dates(),
        sim.daily_temperatures(),
        sim.read_blocks(),
        sim.config.days,
    )


def from_parquet(directory: Path, progress: Callable[[], None] = lambda: None) -> Dataset:
    if not (directory / "reads.parquet").exists():
        raise FileNotFoundError(
            f"no simulation in {directory}: run `gridjourney simulate --parquet {directory}`"
        )
    customers = pd.read_parquet(directory / "customers.parquet")
    config = pd.read_parquet(directory / "config.parquet").iloc[0]
    reads = pq.ParquetFile(directory / "reads.parquet")
    blocks = (reads.read_row_groups(group).to_pandas() for group in _customer_blocks(reads))
    return build(
        customers,
        pd.read_parquet(directory / "anomalies.parquet"),
        list(pd.read_parquet(directory / "dr_events.parquet")["date"]),
        pd.read_parquet(directory / "temperatures.parquet"),
        blocks,
        int(config["days"]),
        progress,
    )


def row_groups(directory: Path) -> int:
    """How many blocks `from_parquet` reads (its progress steps)."""
    return len(_customer_blocks(pq.ParquetFile(directory / "reads.parquet")))
