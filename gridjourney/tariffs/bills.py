"""Each customer's bill for a year under each tariff, from their usage (tariffs/usage.py).

A bill month that the window covers only in part (its first and last months, or days without reads)
is prorated by the share of its days that have reads: the fixed charge and the tiers' limits shrink
with it, as a utility prorates a short billing period. A customer with fewer days of reads than the
window has is scaled to a year (365 / days read) and flagged `scaled`. Amounts are computed in
float64 from the file's decimal rates and rounded to the cent (half to even) once, on the year's total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gridjourney.tariffs.checks import hour_periods
from gridjourney.tariffs.model import Tariff, TariffFile
from gridjourney.tariffs.usage import WEEKDAY, WEEKEND, WINDOW_DAYS, Floats, Ints, Usage


@dataclass(frozen=True)
class Bills:
    customers: list[str]  # C
    tariffs: list[str]  # T, in the file's order
    annual: Floats  # (C, T) a year's bill; NaN for a customer without reads
    days_read: Ints  # (C,)
    scale: Floats  # (C,) 365 / days read, 1 for a whole year

    @property
    def scaled(self) -> npt.NDArray[np.bool_]:
        return (self.days_read > 0) & (self.days_read < WINDOW_DAYS)


def tou_rates(tariff: Tariff, months: Ints) -> Floats:
    """(M, 2, 24): the rate of each local hour of weekdays and weekend days in each bill month."""
    assert tariff.time_of_use is not None
    rates = np.zeros((len(months), 2, 24))
    for index, month in enumerate(months):
        season = next(s for s in tariff.time_of_use.values() if month in s.months)
        for day_type, schedule in ((WEEKDAY, season.weekdays), (WEEKEND, season.weekends or season.weekdays)):
            periods = hour_periods(schedule)
            rates[index, day_type] = [float(season.rates[period]) for period in periods]
    return rates


def window_charges(tariff: Tariff, usage: Usage) -> Floats:
    """(C,) the charges for the days of the window that have reads, before scaling to a year."""
    share = usage.days / usage.days_in_month  # (C, M) of each bill month's days
    energy = usage.kwh.sum(axis=(2, 3))  # (C, M)
    if tariff.flat is not None:
        charges = energy * float(tariff.flat.rate)
    elif tariff.tiered is not None:
        charges = np.zeros_like(energy)
        low = 0.0
        for tier in tariff.tiered.tiers:
            above = np.maximum(energy - low * share, 0.0)
            in_tier = above if tier.up_to is None else np.minimum(above, (float(tier.up_to) - low) * share)
            charges += in_tier * float(tier.rate)
            low = float(tier.up_to or 0)
    else:
        charges = np.einsum("cmdh,mdh->cm", usage.kwh, tou_rates(tariff, usage.months))
    total: Floats = (charges + float(tariff.fixed_monthly) * share).sum(axis=1)
    return total


def annual_bills(tariffs: TariffFile, usage: Usage) -> Bills:
    days_read = usage.days_read
    with np.errstate(divide="ignore"):
        scale = np.where(days_read > 0, WINDOW_DAYS / np.maximum(days_read, 1), np.nan)
    scale = np.where(days_read >= WINDOW_DAYS, 1.0, scale)
    columns = [window_charges(tariff, usage) for tariff in tariffs.tariffs.values()]
    annual = np.round(np.stack(columns, axis=1) * scale[:, None], 2) if columns else np.zeros((0, 0))
    return Bills(usage.customers, list(tariffs.tariffs), annual, days_read, scale)
