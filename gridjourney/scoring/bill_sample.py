"""The bill projection's error at mid-cycle on a real Green Button file.

Every billing cycle the file covers whole is projected on its 15th day from the reads up to then, and
compared with the bill its actual reads make; cycles starting on every day 1-28 of the month are
tried, so one household's year gives a few hundred projections. No temperatures: the projection
falls back on the last week's weather, as it does in production without a forecast.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from gridjourney.metering.features import daily_features
from gridjourney.metering.greenbutton import parse_greenbutton
from gridjourney.scoring.bill_projection import DEFAULT_TARIFF, bill_amount, cycle_bounds, project_bills

MID_CYCLE_DAY = 15


def sample_daily(path: Path, time_zone: str) -> pd.DataFrame:
    parsed = parse_greenbutton(path.read_bytes(), "sample", time_zone=time_zone)
    reads = parsed.reads.assign(customer_id="sample")
    daily = daily_features(reads, time_zone=time_zone)
    return daily[daily["coverage"] >= 0.9].reset_index(drop=True)


def mid_cycle_projections(daily: pd.DataFrame, *, tariff: str = DEFAULT_TARIFF) -> pd.DataFrame:
    """cycle_day, bill_period_start, projected/actual amount and kWh, ape (of the amount, fixed charge
    included) and ape_kwh — one row per whole cycle."""
    dates = pd.to_datetime(daily["date"]).dt.date
    kwh = dict(zip(dates, daily["kwh"], strict=True))
    first, last = min(dates), max(dates)
    rows = []
    for cycle_day in range(1, 29):
        start, end = cycle_bounds(first, cycle_day)
        while end <= last:
            if start >= first:
                as_of = start + timedelta(days=MID_CYCLE_DAY - 1)
                days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
                if all(d in kwh for d in days):
                    rows.append(_one(daily, cycle_day, start, as_of, sum(kwh[d] for d in days), tariff))
            start, end = cycle_bounds(end + timedelta(days=1), cycle_day)
    out = pd.DataFrame([r for r in rows if r is not None])
    out["ape"] = (out["projected_amount"] - out["actual_amount"]).abs() / out["actual_amount"]
    out["ape_kwh"] = (out["projected_kwh"] - out["actual_kwh"]).abs() / out["actual_kwh"].abs()
    return out


def _one(
    daily: pd.DataFrame, cycle_day: int, start: date, as_of: date, actual_kwh: float, tariff: str
) -> dict[str, object] | None:
    upto = daily[pd.to_datetime(daily["date"]).dt.date <= as_of]
    result = project_bills(
        upto,
        as_of=as_of,
        billing_cycle_day={"sample": cycle_day},
        tariff={"sample": tariff},
        require_typical=False,
    )
    if result.projections.empty:
        return None
    return {
        "cycle_day": cycle_day,
        "bill_period_start": start,
        "projected_amount": float(result.projections["projected_amount"].iloc[0]),
        "actual_amount": float(bill_amount(actual_kwh, tariff)),
        "projected_kwh": float(result.projections["projected_kwh"].iloc[0]),
        "actual_kwh": actual_kwh,
    }


def sample_mape(path: Path, *, time_zone: str = "America/Los_Angeles") -> tuple[float, pd.DataFrame]:
    """(MAPE, the projections) of the mid-cycle bill projection on a Green Button file."""
    projections = mid_cycle_projections(sample_daily(path, time_zone))
    return float(projections["ape"].mean()), projections
