"""Rate coaching: for each customer, the best tariff, what switching saves, and how much use to move
out of the peak to save more.

- `best_tariff_savings`: the customer's bill on their current tariff (their `tariff` attribute, or
  the file's default) less the bill on the cheapest tariff of the same group (a commercial customer
  is not offered residential rates), a year, from their own reads; 0 when the current one is the
  cheapest.
- `peak_shift_kwh`: the kWh a year to move out of the peak hours of a time-of-use tariff, into the
  cheapest hours of the same days, so that this tariff saves `coaching.shift_goal` more than today's
  best saving; the time-of-use tariff needing the least is `peak_shift_tariff`. The peak of a season
  and day type is its dearest hours (when they cost more than its cheapest); the move takes the
  same share of every peak hour's use. None when no tariff gets there even with the whole peak moved.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridjourney.tariffs.bills import Bills, annual_bills, tou_rates
from gridjourney.tariffs.model import TariffFile
from gridjourney.tariffs.usage import Floats, Usage

COLUMNS = [
    "customer_id",
    "current_tariff",
    "current_bill",
    "best_tariff",
    "best_bill",
    "best_tariff_savings",
    "peak_shift_kwh",
    "peak_shift_tariff",
    "days_read",
    "scaled",
]


def coach(
    tariffs: TariffFile, usage: Usage, current: dict[str, str | None]
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """(one row per customer with reads and a known tariff, in COLUMNS; [(customer_id, reason)])."""
    bills = annual_bills(tariffs, usage)
    names = bills.tariffs
    index = {name: i for i, name in enumerate(names)}
    skipped: list[tuple[str, str]] = []
    current_index = np.full(len(usage.customers), -1)
    for row, customer in enumerate(usage.customers):
        tariff = current.get(customer) or tariffs.default
        if bills.days_read[row] == 0:
            skipped.append((customer, "tariffs: no reads in the last year"))
        elif tariff not in index:
            skipped.append((customer, f"tariffs: current tariff {tariff!r} is not in the tariffs file"))
        else:
            current_index[row] = index[tariff]
    keep = np.flatnonzero(current_index >= 0)
    group = np.array([t.group for t in tariffs.tariffs.values()])
    offered = group[None, :] == group[current_index[keep]][:, None]  # (C, T): the customer's group
    annual = np.where(offered, bills.annual[keep], np.inf)
    current_bill = annual[np.arange(len(keep)), current_index[keep]]
    best = annual.argmin(axis=1)
    best_bill = annual[np.arange(len(keep)), best]
    savings = np.round(current_bill - best_bill, 2)
    shift_kwh, shift_tariff = _peak_shift(tariffs, usage, bills, keep, offered, current_bill, savings)
    frame = pd.DataFrame(
        {
            "customer_id": [usage.customers[i] for i in keep],
            "current_tariff": [names[i] for i in current_index[keep]],
            "current_bill": current_bill,
            "best_tariff": [names[i] for i in best],
            "best_bill": best_bill,
            "best_tariff_savings": savings,
            "peak_shift_kwh": pd.Series(shift_kwh, dtype=object),  # None stays None, not NaN
            "peak_shift_tariff": pd.Series(shift_tariff, dtype=object),
            "days_read": bills.days_read[keep],
            "scaled": bills.scaled[keep],
        },
        columns=COLUMNS,
    )
    return frame, skipped


def _peak_shift(
    tariffs: TariffFile,
    usage: Usage,
    bills: Bills,
    keep: npt.NDArray[np.int64],
    offered: npt.NDArray[np.bool_],
    current_bill: Floats,
    savings: Floats,
) -> tuple[list[float | None], list[str | None]]:
    goal = float(tariffs.coaching.shift_goal)
    kwh = usage.kwh[keep]
    scale = bills.scale[keep]
    best_need = np.full(len(keep), np.inf)
    best_name: list[str | None] = [None] * len(keep)
    for column, (name, tariff) in enumerate(tariffs.tariffs.items()):
        if tariff.time_of_use is None:
            continue
        rates = tou_rates(tariff, usage.months)
        low = rates.min(axis=2, keepdims=True)
        peak = (rates == rates.max(axis=2, keepdims=True)) & (rates > low)
        peak_kwh = np.einsum("cmdh,mdh->c", kwh, peak.astype(np.float64)) * scale
        value = np.einsum("cmdh,mdh->c", kwh, (rates - low) * peak) * scale  # saved if all moved
        with np.errstate(divide="ignore", invalid="ignore"):
            # the saving this tariff must add, at the average price gap of the moved kWh
            need = (savings + goal - (current_bill - bills.annual[keep, column])) / (value / peak_kwh)
        reachable = (
            offered[:, column] & (peak_kwh > 0) & (value > 0) & (need <= peak_kwh) & (need < best_need)
        )
        for row in np.flatnonzero(reachable):
            best_need[row], best_name[row] = need[row], name
    shift = [round(float(x), 1) if np.isfinite(x) else None for x in best_need]
    return shift, best_name
