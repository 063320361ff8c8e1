"""The best tariff, what switching saves against the current one, and the kWh to move out of the peak."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from gridjourney.tariffs.coaching import COLUMNS, coach
from gridjourney.tariffs.loader import load_tariffs_text
from gridjourney.tariffs.usage import usage_from_reads
from tests.tariffs.support import hourly_reads

# One season, weekends as weekdays, no fixed charges: each day costs the same.
TARIFFS = """\
currency: USD
holidays: US
default: flat
coaching: {shift_goal: 60}
tariffs:
  flat:
    flat: {rate: 0.20}
  tou:
    time_of_use:
      all_year:
        months: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        rates: {peak: 0.40, off_peak: 0.10}
        weekdays:
          peak: "16:00-21:00"
          off_peak: ["00:00-16:00", "21:00-24:00"]
"""
YEAR = (date(2023, 1, 1), date(2023, 12, 31))


def evening_only(hour: pd.Timestamp) -> float:
    return 1.0 if 16 <= hour.hour < 21 else 0.0


@pytest.fixture(scope="module")
def advice() -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    reads = pd.concat(
        [
            hourly_reads("steady", *YEAR),  # 1 kWh every hour
            hourly_reads("evening", *YEAR, evening_only),  # 1 kWh in each peak hour only
            hourly_reads("on_tou", *YEAR),
            hourly_reads("unknown", *YEAR),
        ]
    )
    zones = dict.fromkeys(["steady", "evening", "on_tou", "unknown", "no_reads"], "UTC")
    usage = usage_from_reads(reads, zones, YEAR[1])
    current: dict[str, str | None] = {"steady": None, "on_tou": "tou", "unknown": "gold_plan"}
    frame, skipped = coach(load_tariffs_text(TARIFFS, "tariffs.yaml"), usage, current)
    return frame.set_index("customer_id"), skipped


def test_steady_use_is_cheapest_on_time_of_use(advice: tuple[pd.DataFrame, list[tuple[str, str]]]) -> None:
    row = advice[0].loc["steady"]
    # flat: 8,760 kWh x $0.20 = $1,752.00
    # tou: 365 days x (5 h x $0.40 + 19 h x $0.10) = 365 x 3.90 = $1,423.50
    # no `tariff` attribute: on the default (flat); switching saves 1,752.00 - 1,423.50 = $328.50
    assert (row.current_tariff, row.current_bill, row.best_tariff, row.best_bill) == (
        "flat",
        1752.0,
        "tou",
        1423.5,
    )
    assert row.best_tariff_savings == 328.50
    # to save $60 more on tou: move 60 / (0.40 - 0.10) = 200 kWh of its 1,825 peak kWh
    assert (row.peak_shift_kwh, row.peak_shift_tariff) == (200.0, "tou")
    assert (row.days_read, row.scaled) == (365, False)


def test_evening_use_stays_on_flat(advice: tuple[pd.DataFrame, list[tuple[str, str]]]) -> None:
    row = advice[0].loc["evening"]
    # 1,825 kWh, all in the peak: flat $365.00, tou $730.00; flat is the best: no saving
    assert (row.best_tariff, row.best_bill, row.best_tariff_savings) == ("flat", 365.0, 0.0)
    # tou saves 60 more than today (0) after moving x kWh: 365 - (730 - 0.30 x) = 60 -> x = 1,416.7
    assert row.peak_shift_kwh == pytest.approx(1416.7)


def test_a_customer_already_on_the_best_tariff_saves_nothing(
    advice: tuple[pd.DataFrame, list[tuple[str, str]]],
) -> None:
    row = advice[0].loc["on_tou"]
    assert (row.current_tariff, row.best_tariff, row.best_tariff_savings) == ("tou", "tou", 0.0)
    # moving 200 kWh at $0.30 saves the $60 goal on the tariff they have
    assert row.peak_shift_kwh == 200.0


def test_unknown_tariffs_and_customers_without_reads_are_skipped_with_the_reason(
    advice: tuple[pd.DataFrame, list[tuple[str, str]]],
) -> None:
    frame, skipped = advice
    assert list(frame.columns) == COLUMNS[1:]
    assert sorted(frame.index) == ["evening", "on_tou", "steady"]
    assert sorted(skipped) == [
        ("no_reads", "tariffs: no reads in the last year"),
        ("unknown", "tariffs: current tariff 'gold_plan' is not in the tariffs file"),
    ]


def test_no_shift_when_even_the_whole_peak_is_not_enough() -> None:
    # 1 kWh at 17:00 each day: flat $73.00, tou $146.00. Moving all 365 peak kWh saves 365 x 0.30 =
    # $109.50 on tou, which then costs $36.50: 73.00 - 36.50 = 36.50 < the $60 goal.
    reads = hourly_reads("c", *YEAR, lambda hour: 1.0 if hour.hour == 17 else 0.0)
    usage = usage_from_reads(reads, {"c": "UTC"}, YEAR[1])
    frame, _ = coach(load_tariffs_text(TARIFFS, "tariffs.yaml"), usage, {})
    assert frame.iloc[0].best_tariff == "flat"
    assert frame.iloc[0].peak_shift_kwh is None and frame.iloc[0].peak_shift_tariff is None


def test_customers_are_offered_only_the_tariffs_of_their_group() -> None:
    # a business on $0.30 a kWh: the residential tariffs are cheaper for its use, but not offered
    text = TARIFFS + "  business:\n    group: commercial\n    flat: {rate: 0.30}\n"
    reads = pd.concat([hourly_reads("shop", *YEAR), hourly_reads("home", *YEAR)])
    usage = usage_from_reads(reads, {"shop": "UTC", "home": "UTC"}, YEAR[1])
    frame, _ = coach(load_tariffs_text(text, "tariffs.yaml"), usage, {"shop": "business", "home": "flat"})
    shop, home = frame.set_index("customer_id").loc["shop"], frame.set_index("customer_id").loc["home"]
    # the shop: 8,760 x 0.30 = $2,628.00, alone in its group
    assert (shop.best_tariff, shop.current_bill, shop.best_tariff_savings) == ("business", 2628.0, 0.0)
    assert shop.peak_shift_kwh is None
    assert (home.best_tariff, home.best_tariff_savings) == ("tou", 328.5)
