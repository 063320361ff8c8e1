"""A year of stored reads summed in Postgres into the usage every tariff needs (tariffs/usage.py).

The daily scoring of many customers cannot bring a year of hourly reads per customer into Python
(8,760 rows each): Postgres sums them by bill month, day type and local hour instead (at most 624
rows per customer) and counts the days read per bill month, in one pass over the reads. Day types
are those of tariffs/usage.py: Saturday, Sunday and the calendar's holidays are weekend days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.metering.holidays import holidays_between
from gridjourney.tariffs.usage import WINDOW_DAYS, Usage, window_months

# Reads in each customer's local time: `t` is the wall-clock time the read starts at.
_USAGE = text(
    """
    SELECT s.customer_id, s.month, s.day_type, s.hour, sum(s.kwh) AS kwh, count(DISTINCT s.day) AS days,
           GROUPING(s.day_type) AS per_month
    FROM (
        SELECT r.customer_id, l.t::date AS day, date_trunc('month', l.t)::date AS month,
               CASE WHEN extract(isodow FROM l.t) >= 6 OR l.t::date = ANY(CAST(:holidays AS date[]))
                    THEN 1 ELSE 0 END AS day_type,
               extract(hour FROM l.t)::int AS hour, r.kwh
        FROM meter_reads r
        JOIN unnest(CAST(:ids AS text[]), CAST(:zones AS text[])) AS c(id, zone) ON r.customer_id = c.id
        CROSS JOIN LATERAL (SELECT r.read_at AT TIME ZONE c.zone AS t) AS l
        WHERE r.read_at >= :start AND r.read_at < :end AND r.interval_seconds <= 3600
    ) AS s
    WHERE s.day BETWEEN :first AND :last
    GROUP BY GROUPING SETS ((s.customer_id, s.month, s.day_type, s.hour), (s.customer_id, s.month))
    """
)


async def stored_usage(
    engine: AsyncEngine,
    time_zones: dict[str, str],
    last_day: date,
    *,
    holidays: str = "US",
    days: int = WINDOW_DAYS,
) -> Usage:
    """The usage of the customers in `time_zones` (customer -> IANA zone) over the `days` local days
    ending on `last_day`, as usage_from_reads gives it from the same reads (reads longer than an hour
    are left out, uncounted here)."""
    customers = list(time_zones)
    months = window_months(last_day, days)
    first = last_day - timedelta(days=days - 1)
    # local days run up to 14 hours either side of UTC days
    start = datetime.combine(first - timedelta(days=1), time(), tzinfo=UTC)
    end = datetime.combine(last_day + timedelta(days=2), time(), tzinfo=UTC)
    params = {
        "ids": customers,
        "zones": [time_zones[c] for c in customers],
        "holidays": sorted(holidays_between(first, last_day, holidays)),
        "start": start,
        "end": end,
        "first": first,
        "last": last_day,
    }
    async with engine.connect() as conn:
        rows = (await conn.execute(_USAGE, params)).all()
    position = {c: i for i, c in enumerate(customers)}
    slot = {m: i for i, m in enumerate(months)}
    kwh = np.zeros((len(customers), len(months), 2, 24))
    day_counts = np.zeros((len(customers), len(months)), dtype=np.int64)
    for row in rows:
        c, m = position[row.customer_id], slot[row.month]
        if row.per_month:
            day_counts[c, m] = row.days
        else:
            kwh[c, m, row.day_type, row.hour] = row.kwh
    lengths = [((m + timedelta(days=32)).replace(day=1) - m).days for m in months]
    return Usage(
        customers=customers,
        months=np.array([m.month for m in months], dtype=np.int64),
        days_in_month=np.array(lengths, dtype=np.int64),
        days=day_counts,
        kwh=kwh,
    )
