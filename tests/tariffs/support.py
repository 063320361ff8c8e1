"""Reads written out for hand-worked bills: a kWh for each local hour of each day of a span."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pandas as pd


def hourly_reads(
    customer: str,
    first: date,
    last: date,
    kwh: Callable[[pd.Timestamp], float] = lambda hour: 1.0,
    *,
    zone: str = "UTC",
    interval_minutes: int = 60,
) -> pd.DataFrame:
    """Reads of `customer` from local midnight of `first` to the end of `last`: each hour's
    `kwh(its local start)` split evenly over its intervals; read_at in UTC, as the store gives it."""
    starts = pd.date_range(
        pd.Timestamp(first, tz=zone),
        pd.Timestamp(last + timedelta(days=1), tz=zone),  # local midnight, 23 or 25 h on clock changes
        freq=f"{interval_minutes}min",
        inclusive="left",
    )
    share = interval_minutes / 60
    return pd.DataFrame(
        {
            "customer_id": customer,
            "read_at": starts.tz_convert("UTC"),
            "interval_seconds": interval_minutes * 60,
            "kwh": [kwh(start) * share for start in starts],
        }
    )
