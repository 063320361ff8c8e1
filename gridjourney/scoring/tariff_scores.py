"""Rate-coaching scores written to customers: `customer.scores.best_tariff`, `best_tariff_savings`
(a year, in the tariffs file's currency) and `peak_shift_kwh`, from each customer's own reads.

The bills come from gridjourney/tariffs/ (the tariffs at GRIDJOURNEY_TARIFFS_FILE, the last 365 days
of reads, a shorter history scaled to a year and flagged as `tariff_year_scaled`). The daily scoring
(scoring/customer_scores.py) calls `add_tariff_scores` once per batch of customers; Postgres sums
their reads into what the bills need (tariffs/queries.py: at most 624 rows per customer, not the
8,760 of a year of hourly reads), LOAD_BATCH customers per query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import get_settings
from gridjourney.tariffs.coaching import coach
from gridjourney.tariffs.loader import TariffErrors, load_tariffs
from gridjourney.tariffs.model import TariffFile
from gridjourney.tariffs.queries import stored_usage
from gridjourney.tariffs.usage import usage_from_reads

LOAD_BATCH = 500
TARIFF_ATTRIBUTE = "tariff"  # the customer's current tariff, by its name in the tariffs file


class CustomerRow(Protocol):
    """A row of the customers projection, as the daily scoring reads it."""

    @property
    def customer_id(self) -> str: ...
    @property
    def time_zone(self) -> str | None: ...
    @property
    def attributes(self) -> Mapping[str, Any] | None: ...


def tariff_scores(
    reads: pd.DataFrame, customers: pd.DataFrame, tariffs: TariffFile, last_day: date
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """`customers`: customer_id, time_zone, tariff (None: the file's default). One row per customer
    scored (tariffs/coaching.py COLUMNS), and (customer_id, reason) for the others. Pure computation."""
    ids = [str(c) for c in customers["customer_id"]]
    zones = dict(zip(ids, customers["time_zone"].fillna("UTC"), strict=True))
    current = {c: t if isinstance(t, str) else None for c, t in zip(ids, customers["tariff"], strict=True)}
    usage = usage_from_reads(reads, zones, last_day, holidays=tariffs.holidays)
    return coach(tariffs, usage, current)


def score_attributes(frame: pd.DataFrame, tariffs: TariffFile) -> dict[str, dict[str, Any]]:
    """{customer_id: {"scores": {...}}}: what a customer.updated carries for each scored customer."""
    out: dict[str, dict[str, Any]] = {}
    for row in frame.to_dict("records"):
        best = str(row["best_tariff"])
        shift = row["peak_shift_tariff"]
        out[str(row["customer_id"])] = {
            "scores": {
                "best_tariff": best,
                "best_tariff_name": tariffs.tariffs[best].title(best),
                "best_tariff_savings": float(row["best_tariff_savings"]),
                "tariff_year_scaled": bool(row["scaled"]),
                # what moving peak_shift_kwh a year out of the peak of peak_shift_tariff saves more
                "peak_shift_kwh": row["peak_shift_kwh"],
                "peak_shift_tariff": shift,
                "peak_shift_tariff_name": None if shift is None else tariffs.tariffs[shift].title(shift),
                "peak_shift_savings": float(tariffs.coaching.shift_goal),
            }
        }
    return out


async def add_tariff_scores(
    engine: AsyncEngine,
    attributes: dict[str, dict[str, Any]],
    customers: Sequence[CustomerRow],
    end: datetime,
    tariffs_file: Path | None = None,
) -> list[tuple[str, str]]:
    """Merge the tariff scores of `customers` (from their reads of the 365 local days before `end`)
    into `attributes[customer_id]["scores"]`; returns the (customer_id, reason) of those left out."""
    path = tariffs_file if tariffs_file is not None else get_settings().tariffs_file
    if not path.is_file():
        return [("*", f"tariffs: no tariffs file at {path} (GRIDJOURNEY_TARIFFS_FILE): no rate coaching")]
    try:
        tariffs = load_tariffs(path)
    except TariffErrors as errors:
        return [("*", f"tariffs: {errors.errors[0]}")]
    last_day = (end - timedelta(days=1)).date()
    skipped: list[tuple[str, str]] = []
    for offset in range(0, len(customers), LOAD_BATCH):
        batch = customers[offset : offset + LOAD_BATCH]
        zones = {str(row.customer_id): row.time_zone or "UTC" for row in batch}
        current = {str(row.customer_id): (row.attributes or {}).get(TARIFF_ATTRIBUTE) for row in batch}
        usage = await stored_usage(engine, zones, last_day, holidays=tariffs.holidays)
        frame, left_out = coach(
            tariffs, usage, {c: t if isinstance(t, str) else None for c, t in current.items()}
        )
        skipped += left_out
        for customer_id, values in score_attributes(frame, tariffs).items():
            attributes.setdefault(customer_id, {}).setdefault("scores", {}).update(values["scores"])
    return skipped
