"""Daily features as (customer x day) matrices and trailing per-meter baselines over them.

Wide matrices make the rolling baselines plain numpy over a sliding window, which is what lets an
anomaly scan run over a million meter-days in seconds.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

Matrix = npt.NDArray[np.float64]
MIN_COVERAGE = 0.9  # a day with less than 90 % of its reads is left out, not scored


@dataclass(frozen=True)
class DailyMatrix:
    customers: pd.Index
    dates: pd.DatetimeIndex
    values: dict[str, Matrix]

    def __getitem__(self, name: str) -> Matrix:
        return self.values[name]

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.customers), len(self.dates))


def to_matrix(
    daily: pd.DataFrame, columns: Iterable[str], *, excluded: pd.DataFrame | None = None
) -> DailyMatrix:
    """Pivot daily features to matrices over a full calendar; days with low coverage, and `excluded`
    days (date, optionally customer_id: outages, DR events), become NaN."""
    frame = daily.copy()
    frame["date"] = pd.to_datetime(frame["date"]).dt.tz_localize(None).dt.normalize()
    if "coverage" in frame.columns:
        frame = frame[frame["coverage"].fillna(1.0) >= MIN_COVERAGE]
    customers = pd.Index(sorted(daily["customer_id"].unique()), name="customer_id")
    if frame.empty:
        dates = pd.DatetimeIndex([])
    else:
        dates = pd.date_range(frame["date"].min(), frame["date"].max(), freq="D")
    rows = customers.get_indexer(pd.Index(frame["customer_id"]))
    cols = dates.get_indexer(pd.DatetimeIndex(frame["date"]))
    keep = np.ones(len(frame), dtype=bool)
    if excluded is not None and len(excluded) and len(dates):
        ex_dates = pd.DatetimeIndex(pd.to_datetime(excluded["date"])).normalize()
        ex_cols = dates.get_indexer(ex_dates)
        if "customer_id" in excluded.columns:
            ex_rows = customers.get_indexer(pd.Index(excluded["customer_id"]))
            bad = set(zip(ex_rows.tolist(), ex_cols.tolist(), strict=True))
            keep = np.array([(r, c) not in bad for r, c in zip(rows.tolist(), cols.tolist(), strict=True)])
        else:
            keep = ~np.isin(cols, ex_cols[ex_cols >= 0])
    values: dict[str, Matrix] = {}
    for name in columns:
        m = np.full((len(customers), len(dates)), np.nan)
        m[rows[keep], cols[keep]] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)[
            keep
        ]
        values[name] = m
    return DailyMatrix(customers=customers, dates=dates, values=values)


def trailing(values: Matrix, window: int, how: str) -> tuple[Matrix, npt.NDArray[np.int64]]:
    """Statistic of the `window` days before each day (the day itself excluded, so an anomaly cannot
    hide in its own baseline) and how many of those days had values."""
    padded = np.concatenate([np.full((values.shape[0], window), np.nan), values[:, :-1]], axis=1)
    windows = sliding_window_view(padded, window, axis=1)[:, : values.shape[1]]
    count = (~np.isnan(windows)).sum(axis=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN, as intended
        if how == "median":
            stat = np.nanmedian(windows, axis=2)
        elif how == "mean":
            stat = np.nanmean(windows, axis=2)
        elif how == "mad":
            med = np.nanmedian(windows, axis=2)
            stat = np.nanmedian(np.abs(windows - med[:, :, None]), axis=2)
        else:
            raise ValueError(how)
    return np.asarray(stat, dtype=np.float64), count.astype(np.int64)
