"""Mid-cycle bill projection: the bill so far plus the days left, with a range, against the typical bill.

The days left come from scoring/bill_remaining.py (the meter's recent level by day type, the weather
through its degree-day fit when the daily features carry temperatures and `forecast` (customer_id,
date, temperature_c) covers the days ahead, and a 10th-90th percentile range from its own history).
Past temperatures are read back from the features' degree-days (°F, base 65). Without them or without
a forecast the projection is weather-free and says so in `weather_adjusted`.
Typical is the same period last year where the reads cover it, else the mean of the earlier complete
cycles. No projection in the first or last days of a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from gridjourney.metering.features import HDD_BASE_F
from gridjourney.metering.holidays import US, holidays_between
from gridjourney.scoring.baselines import to_matrix
from gridjourney.scoring.bill_remaining import remaining_use

# USD: (fixed charge per cycle, energy rate per kWh); net-metered customers pay nothing below zero.
TARIFFS: dict[str, tuple[float, float]] = {
    "residential_flat": (12.0, 0.16),
    "residential_tou": (12.0, 0.15),
    "ev_tou": (12.0, 0.13),
    "nem": (12.0, 0.16),
    "commercial_small": (25.0, 0.14),
}
DEFAULT_TARIFF = "residential_flat"
QUIET_DAYS = 7  # no projection in the first or last 7 days of a cycle (utility practice)
FIT_DAYS = 28
MIN_FIT_DAYS = 14  # days read among the last FIT_DAYS


def bill_amount(kwh: float | np.ndarray, tariff: str) -> np.ndarray:
    fixed, rate = TARIFFS.get(tariff, TARIFFS[DEFAULT_TARIFF])
    return np.asarray(fixed + rate * np.clip(kwh, 0.0, None), dtype=np.float64)


def cycle_bounds(day: date, cycle_day: int) -> tuple[date, date]:
    """The billing cycle containing `day`: [start, end] inclusive, starting on `cycle_day`."""
    start = day.replace(day=cycle_day) if day.day >= cycle_day else _month_back(day).replace(day=cycle_day)
    nxt = (start.replace(day=1) + timedelta(days=32)).replace(day=cycle_day)
    return start, nxt - timedelta(days=1)


def _month_back(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


@dataclass(frozen=True)
class Projections:
    projections: pd.DataFrame  # customer_id, as_of, bill_period_start/end, days_left, kwh_to_date,
    # projected_kwh (+ _low, _high), projected_amount (+ _low, _high: the 10th-90th percentile range),
    # typical_amount, ratio, typical_basis, weather_adjusted, range_basis
    skipped: pd.DataFrame  # customer_id, reason


def project_bills(
    daily: pd.DataFrame,
    *,
    as_of: date | dict[str, date],
    billing_cycle_day: dict[str, int],
    tariff: dict[str, str] | None = None,
    forecast: pd.DataFrame | None = None,
    require_typical: bool = True,
    holiday_calendar: str = US,
) -> Projections:
    """Project each customer's current cycle from daily features (customer_id, date, kwh, hdd, cdd)
    up to and including `as_of` (one date for all, or one per customer). `forecast`: customer_id,
    date, temperature_c for the days ahead. `holiday_calendar`: whose public holidays are off days
    (metering/holidays.py)."""
    m = to_matrix(daily, ["kwh", "hdd", "cdd"])
    if len(m.dates) == 0:
        return Projections(pd.DataFrame(), pd.DataFrame({"customer_id": m.customers, "reason": "no reads"}))
    holidays = holidays_between(
        m.dates[0].date() - timedelta(days=400), m.dates[-1].date() + timedelta(days=60), holiday_calendar
    )
    ahead_temps = _forecast_by_customer(forecast)
    # The features' degree-days are from the day's mean temperature (°F, base 65): read it back (°C).
    temp_c = (HDD_BASE_F - m["hdd"] + m["cdd"] - 32.0) / 1.8
    rows, skipped = [], []
    for r, cid in enumerate(m.customers):
        day = as_of[cid] if isinstance(as_of, dict) else as_of
        start, end = cycle_bounds(day, int(billing_cycle_day.get(cid, 1)))
        elapsed, left = (day - start).days + 1, (end - day).days
        if elapsed <= QUIET_DAYS or left < QUIET_DAYS:
            skipped.append(
                (cid, f"day {elapsed} of the cycle, {left} left: too early or too late to project")
            )
            continue
        idx = m.dates.get_indexer(pd.DatetimeIndex([start, day]))
        if idx[1] < 0 or idx[0] < 0:
            skipped.append((cid, "the reads do not cover the cycle so far"))
            continue
        kwh = m["kwh"][r]
        read = int((~np.isnan(kwh[max(0, idx[1] - FIT_DAYS + 1) : idx[1] + 1])).sum())
        if read < MIN_FIT_DAYS:
            skipped.append((cid, f"{read} days of recent reads; {MIN_FIT_DAYS} needed to project"))
            continue
        history = pd.Series(kwh[: idx[1] + 1], index=m.dates[: idx[1] + 1])
        temperature = pd.Series(temp_c[r, : idx[1] + 1], index=history.index)
        if cid in ahead_temps:
            temperature = pd.concat(
                [temperature, ahead_temps[cid][ahead_temps[cid].index > history.index[-1]]]
            )
        ahead = pd.date_range(pd.Timestamp(day) + pd.Timedelta(days=1), pd.Timestamp(end))
        rest = remaining_use(
            history,
            ahead,
            off_days=holidays,
            temperature_c=temperature if temperature.notna().any() else None,
        )
        so_far = kwh[idx[0] : idx[1] + 1]
        to_date = float(np.nansum(so_far) * elapsed / max(1, (~np.isnan(so_far)).sum()))
        plan = (tariff or {}).get(cid, DEFAULT_TARIFF)
        typical, basis = _typical(m.dates, kwh, start, end, plan)
        if typical is None and require_typical:
            skipped.append((cid, "no earlier cycle or last year's period to compare with"))
            continue
        projected = float(bill_amount(to_date + rest.kwh, plan))
        rows.append(
            {
                "customer_id": cid,
                "as_of": day,
                "bill_period_start": start,
                "bill_period_end": end,
                "days_left": left,
                "kwh_to_date": round(to_date, 2),
                "projected_kwh": round(to_date + rest.kwh, 2),
                "projected_kwh_low": round(to_date + rest.low_kwh, 2),
                "projected_kwh_high": round(to_date + rest.high_kwh, 2),
                "projected_amount": round(projected, 2),
                "projected_amount_low": round(float(bill_amount(to_date + rest.low_kwh, plan)), 2),
                "projected_amount_high": round(float(bill_amount(to_date + rest.high_kwh, plan)), 2),
                "typical_amount": round(typical, 2) if typical is not None else float("nan"),
                "ratio": round(projected / typical, 3) if typical else float("nan"),
                "typical_basis": basis,
                "weather_adjusted": rest.weather_adjusted,
                "range_basis": rest.range_basis,
            }
        )
    return Projections(pd.DataFrame(rows), pd.DataFrame(skipped, columns=["customer_id", "reason"]))


def _forecast_by_customer(forecast: pd.DataFrame | None) -> dict[str, pd.Series]:
    if forecast is None or forecast.empty:
        return {}
    frame = forecast.assign(date=pd.to_datetime(forecast["date"]))
    return {
        str(cid): group.set_index("date")["temperature_c"].astype("float64").sort_index()
        for cid, group in frame.groupby("customer_id")
    }


def _typical(
    dates: pd.DatetimeIndex, kwh: np.ndarray, start: date, end: date, plan: str
) -> tuple[float | None, str]:
    days = (end - start).days + 1
    last_year = dates.get_indexer(pd.DatetimeIndex([start - timedelta(days=364), end - timedelta(days=364)]))
    if (last_year >= 0).all():
        seg = kwh[last_year[0] : last_year[1] + 1]
        if (~np.isnan(seg)).mean() >= 0.9:
            return float(bill_amount(np.nanmean(seg) * days, plan)), "same period last year"
    # Earlier complete cycles within the reads, most recent first, up to three.
    amounts = []
    s = start
    for _ in range(3):
        prev_start = _month_back(s).replace(day=start.day) if start.day <= 28 else s
        idx = dates.get_indexer(pd.DatetimeIndex([prev_start, s - timedelta(days=1)]))
        if (idx < 0).any():
            break
        seg = kwh[idx[0] : idx[1] + 1]
        if (~np.isnan(seg)).mean() < 0.9:
            break
        amounts.append(float(bill_amount(np.nanmean(seg) * days, plan)))
        s = prev_start
    if not amounts:
        return None, ""
    return float(np.mean(amounts)), f"mean of the last {len(amounts)} cycle(s)"


def mid_cycle_errors(
    daily: pd.DataFrame,
    *,
    billing_cycle_day: dict[str, int],
    tariff: dict[str, str] | None = None,
    forecast: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """For each customer's latest cycle fully inside the reads: the projection made on its 15th day
    against the actual bill. customer_id, projected_amount, actual_amount, ape."""
    last = pd.to_datetime(daily["date"]).max().date()
    as_of: dict[str, date] = {}
    for cid in daily["customer_id"].unique():
        start, end = cycle_bounds(last, int(billing_cycle_day.get(cid, 1)))
        if end != last:
            start, end = cycle_bounds(start - timedelta(days=1), int(billing_cycle_day.get(cid, 1)))
        as_of[cid] = start + timedelta(days=14)
    result = project_bills(
        daily,
        as_of=as_of,
        billing_cycle_day=billing_cycle_day,
        tariff=tariff,
        forecast=forecast,
        require_typical=False,
    )
    p = result.projections
    if p.empty:
        return pd.DataFrame(columns=["customer_id", "projected_amount", "actual_amount", "ape"])
    frame = daily[["customer_id", "date", "kwh"]].assign(date=pd.to_datetime(daily["date"]).dt.date)
    frame = frame.merge(p[["customer_id", "bill_period_start", "bill_period_end"]], on="customer_id")
    inside = (frame["date"] >= frame["bill_period_start"]) & (frame["date"] <= frame["bill_period_end"])
    kwh = frame[inside].groupby("customer_id")["kwh"].sum()
    out = p[["customer_id", "projected_amount"]].copy()
    plans = out["customer_id"].map(tariff or {}).fillna(DEFAULT_TARIFF)
    out["actual_amount"] = [
        float(bill_amount(k, plan))
        for k, plan in zip(kwh.reindex(out["customer_id"]).fillna(0.0), plans, strict=True)
    ]
    out["ape"] = (out["projected_amount"] - out["actual_amount"]).abs() / out["actual_amount"]
    return out
