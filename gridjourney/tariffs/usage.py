"""A year of reads, summed into what any tariff needs: kWh by bill month, day type and local hour.

Every tariff kind is a function of these sums: a flat or tiered bill of the month's total, a
time-of-use bill of the kWh in each hour of weekdays and of weekend days (holidays count as weekend
days). So each customer's reads become one array of shape (months, 2, 24), built for a whole batch of
customers at once with numpy (no loop over customers or reads).

The window is the `WINDOW_DAYS` local days ending on `last_day`; its bill months are the calendar
months it touches (13 at most), each with the days of it that lie in the window and have reads.
Reads of more than an hour cannot be put in an hour and are left out (they are counted in
`Usage.coarse_reads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridjourney.metering.holidays import holidays_between

WINDOW_DAYS = 365
WEEKDAY, WEEKEND = 0, 1

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Usage:
    customers: list[str]  # C
    months: Ints  # (M,) calendar month 1-12 of each bill month of the window
    days_in_month: Ints  # (M,) its length in days
    days: Ints  # (C, M) days of the bill month in the window with reads
    kwh: Floats  # (C, M, 2, 24) kWh by bill month, day type (WEEKDAY, WEEKEND) and local hour
    coarse_reads: int = 0

    @property
    def days_read(self) -> Ints:
        """(C,) days with reads in the window."""
        total: Ints = self.days.sum(axis=1, dtype=np.int64)
        return total


def window_months(last_day: date, days: int = WINDOW_DAYS) -> list[date]:
    """The first day of each calendar month the window touches, oldest first."""
    first = last_day - timedelta(days=days - 1)
    months: list[date] = []
    current = first.replace(day=1)
    while current <= last_day:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def usage_from_reads(
    reads: pd.DataFrame,
    time_zones: dict[str, str],
    last_day: date,
    *,
    holidays: str = "US",
    days: int = WINDOW_DAYS,
) -> Usage:
    """`reads`: customer_id, read_at (UTC), interval_seconds, kwh. Customers in `time_zones` (their
    IANA zone) only, in its order; a customer without reads has zero days."""
    customers = list(time_zones)
    months = window_months(last_day, days)
    n_months = len(months)
    first = last_day - timedelta(days=days - 1)
    # per day of the window: its bill month and day type (looked up per read by the day's index)
    window = np.arange(np.datetime64(first, "D"), np.datetime64(last_day, "D") + 1)
    slot_of_day = np.searchsorted(np.array(months, dtype="datetime64[D]"), window, side="right") - 1
    weekday = (window.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    holiday = np.isin(
        window, np.array(sorted(holidays_between(first, last_day, holidays)), dtype="datetime64[D]")
    )
    type_of_day = np.where((weekday >= 5) | holiday, WEEKEND, WEEKDAY)
    first_day_number = int(window[0].astype(np.int64))  # days since 1970-01-01
    kwh = np.zeros(len(customers) * n_months * 48)
    read_days = np.zeros(len(customers) * days, dtype=np.int64)  # reads per customer and window day
    seconds = reads["interval_seconds"].to_numpy()
    coarse = int((seconds > 3600).sum())
    # each read's customer and zone as integers (each string is hashed once; -1: not asked for)
    codes, names = pd.factorize(reads["customer_id"])
    customer_of_read = np.append(pd.Index(customers).get_indexer(names), -1)[codes].astype(np.int64)
    zones, zone_of_customer = np.unique(
        np.array([time_zones[c] for c in customers], dtype=object), return_inverse=True
    )
    usable = (customer_of_read >= 0) & (seconds <= 3600)
    zone_of_read = np.where(usable, zone_of_customer[customer_of_read], -1)
    read_at = pd.DatetimeIndex(reads["read_at"])
    energy = reads["kwh"].to_numpy(dtype=np.float64)
    for zone_index, zone in enumerate(zones):
        rows = np.flatnonzero(zone_of_read == zone_index)
        # local wall-clock hours since 1970-01-01 00:00
        local = read_at[rows].tz_convert(str(zone)).tz_localize(None).to_numpy()
        hours = local.astype("datetime64[h]").astype(np.int64)
        day = hours // 24 - first_day_number
        inside = (day >= 0) & (day < days)
        rows, day, hour = rows[inside], day[inside], hours[inside] % 24
        customer = customer_of_read[rows]
        cell = ((customer * n_months + slot_of_day[day]) * 2 + type_of_day[day]) * 24 + hour
        kwh += np.bincount(cell, weights=energy[rows], minlength=kwh.size)
        read_days += np.bincount(customer * days + day, minlength=read_days.size)
    seen_customer, seen_day = np.divmod(np.flatnonzero(read_days), days)
    day_counts = np.bincount(
        seen_customer * n_months + slot_of_day[seen_day], minlength=len(customers) * n_months
    )
    lengths = [((m + timedelta(days=32)).replace(day=1) - m).days for m in months]
    return Usage(
        customers=customers,
        months=np.array([m.month for m in months], dtype=np.int64),
        days_in_month=np.array(lengths, dtype=np.int64),
        days=day_counts.reshape(len(customers), n_months).astype(np.int64),
        kwh=kwh.reshape(len(customers), n_months, 2, 24),
        coarse_reads=coarse,
    )
