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


def _nanmedian_last(values: Matrix, count: npt.NDArray[np.int64]) -> Matrix:
    """The median over the last axis ignoring NaN (`count`: the values that are not NaN). One sort
    with NaN last: np.nanmedian goes through masked arrays and is an order of magnitude slower."""
    ordered = np.sort(values, axis=-1)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, np.minimum(count // 2, values.shape[-1] - 1)[..., None], axis=-1)
    return np.where(count > 0, (low + high[..., 0]) / 2.0, np.nan)


def trailing(values: Matrix, window: int, how: str) -> tuple[Matrix, npt.NDArray[np.int64]]:
    """Statistic of the `window` days before each day (the day itself excluded, so an anomaly cannot
    hide in its own baseline) and how many of those days had values."""
    padded = np.concatenate([np.full((values.shape[0], window), np.nan), values[:, :-1]], axis=1)
    windows = sliding_window_view(padded, window, axis=1)[:, : values.shape[1]]
    count = (~np.isnan(windows)).sum(axis=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN, as intended
        if how == "median":
            stat = _nanmedian_last(windows, count)
        elif how == "mean":
            stat = np.nanmean(windows, axis=2)
        elif how == "mad":
            med = _nanmedian_last(windows, count)
            stat = _nanmedian_last(np.abs(windows - med[:, :, None]), count)
        else:
            raise ValueError(how)
    return np.asarray(stat, dtype=np.float64), count.astype(np.int64)
