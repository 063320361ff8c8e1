"""Bills under each tariff kind, against bills worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from gridjourney.tariffs.bills import annual_bills, window_charges
from gridjourney.tariffs.loader import load_tariffs_text
from gridjourney.tariffs.model import TariffFile
from gridjourney.tariffs.usage import usage_from_reads
from tests.tariffs.support import hourly_reads

TARIFFS = """\
currency: USD
holidays: US
default: flat
tariffs:
  flat:
    fixed_monthly: 10.00
    flat: {rate: 0.16}
  tiered:
    fixed_monthly: 10.00
    tiered:
      tiers:
        - {up_to: 300, rate: 0.14}
        - {up_to: 800, rate: 0.18}
        - {rate: 0.26}
  tou:
    fixed_monthly: 10.00
    time_of_use:
      summer:
        months: [6, 7, 8, 9]
        rates: {peak: 0.38, off_peak: 0.12}
        weekdays:
          peak: "16:00-21:00"
          off_peak: ["00:00-16:00", "21:00-24:00"]
        weekends:
          off_peak: "00:00-24:00"
      winter:
        months: [1, 2, 3, 4, 5, 10, 11, 12]
        rates: {peak: 0.20, off_peak: 0.12}
        weekdays:
          peak: "16:00-21:00"
          off_peak: ["00:00-16:00", "21:00-24:00"]
        weekends:
          off_peak: "00:00-24:00"
"""


@pytest.fixture(scope="module")
def tariffs() -> TariffFile:
    return load_tariffs_text(TARIFFS, "tariffs.yaml")


def charges(tariffs: TariffFile, name: str, reads: pd.DataFrame, zone: str, last: date, days: int) -> float:
    usage = usage_from_reads(reads, {"c": zone}, last, holidays="US", days=days)
    return float(window_charges(tariffs.tariffs[name], usage)[0])


def test_flat_for_a_whole_year(tariffs: TariffFile) -> None:
    reads = hourly_reads("c", date(2023, 1, 1), date(2023, 12, 31), lambda hour: 0.5)
    usage = usage_from_reads(reads, {"c": "UTC"}, date(2023, 12, 31), holidays="US")
    bills = annual_bills(tariffs, usage)
    # 365 days x 24 h x 0.5 kWh = 4,380 kWh; x $0.16 = $700.80; plus 12 months x $10 = $120
    assert bills.annual[0, bills.tariffs.index("flat")] == 820.80
    assert bills.days_read.tolist() == [365] and not bills.scaled[0] and bills.scale[0] == 1.0


def test_tiered_across_both_tier_limits(tariffs: TariffFile) -> None:
    reads = hourly_reads("c", date(2023, 1, 1), date(2023, 1, 31), lambda hour: 1.2)
    # January: 31 days x 24 h x 1.2 kWh = 892.8 kWh
    #   first 300 kWh x $0.14 = $42.00; next 500 x $0.18 = $90.00; the last 92.8 x $0.26 = $24.128
    #   + the fixed $10 = $166.128
    assert charges(tariffs, "tiered", reads, "UTC", date(2023, 1, 31), 31) == pytest.approx(166.128)
    # the flat tariff on the same month: 892.8 x 0.16 + 10 = $152.848
    assert charges(tariffs, "flat", reads, "UTC", date(2023, 1, 31), 31) == pytest.approx(152.848)


def test_tiered_limits_shrink_with_a_short_month(tariffs: TariffFile) -> None:
    # 15 of January's 31 days, 1 kWh an hour: 360 kWh. The limits become 300 x 15/31 = 145.16 and
    # 800 x 15/31 = 387.10 kWh, the fixed charge 10 x 15/31:
    #   145.161 x 0.14 + (360 - 145.161) x 0.18 + 10 x 15/31 = 20.3226 + 38.6710 + 4.8387 = 63.8323
    reads = hourly_reads("c", date(2023, 1, 17), date(2023, 1, 31))
    expected = 300 * 15 / 31 * 0.14 + (360 - 300 * 15 / 31) * 0.18 + 10 * 15 / 31
    assert expected == pytest.approx(63.8323, abs=1e-4)
    assert charges(tariffs, "tiered", reads, "UTC", date(2023, 1, 31), 31) == pytest.approx(expected)


@pytest.mark.parametrize("interval_minutes", [60, 30, 15])
def test_time_of_use_weekdays_weekends_and_a_holiday(tariffs: TariffFile, interval_minutes: int) -> None:
    # July 2023 in New York, 1 kWh every local hour. Weekend days: 1, 2, 8, 9, 15, 16, 22, 23, 29, 30
    # and Independence Day (Tuesday 4 July) priced as one: 11 days; 20 weekdays.
    #   weekdays: 20 x (5 h x $0.38 + 19 h x $0.12) = 20 x (1.90 + 2.28) = $83.60
    #   weekend days: 11 x 24 h x $0.12 = $31.68
    #   + the fixed $10 = $125.28
    reads = hourly_reads(
        "c", date(2023, 7, 1), date(2023, 7, 31), zone="America/New_York", interval_minutes=interval_minutes
    )
    assert charges(tariffs, "tou", reads, "America/New_York", date(2023, 7, 31), 31) == pytest.approx(125.28)


def test_time_of_use_across_two_seasons(tariffs: TariffFile) -> None:
    # May and June 2023 (UTC), 1 kWh every hour.
    # May (winter rates): weekend days 6, 7, 13, 14, 20, 21, 27, 28 and Memorial Day (29): 9; weekdays 22
    #   22 x (5 x 0.20 + 19 x 0.12) = 22 x 3.28 = 72.16; 9 x 24 x 0.12 = 25.92; + 10 = 108.08
    # June (summer rates): weekend days 3, 4, 10, 11, 17, 18, 24, 25 and Juneteenth (19): 9; weekdays 21
    #   21 x (5 x 0.38 + 19 x 0.12) = 21 x 4.18 = 87.78; 9 x 24 x 0.12 = 25.92; + 10 = 123.70
    # together $231.78
    reads = hourly_reads("c", date(2023, 5, 1), date(2023, 6, 30))
    assert charges(tariffs, "tou", reads, "UTC", date(2023, 6, 30), 61) == pytest.approx(231.78)


def test_only_peak_hours_cost_the_peak_rate(tariffs: TariffFile) -> None:
    # 2 kWh at 17:00 and 1 kWh at 03:00 of each day of August 2023, nothing else.
    # Weekdays: 23 (weekend days 5, 6, 12, 13, 19, 20, 26, 27: 8; no holiday)
    #   23 x (2 x 0.38 + 1 x 0.12) = 23 x 0.88 = 20.24; 8 x (3 x 0.12) = 2.88; + 10 = $33.12
    reads = hourly_reads(
        "c", date(2023, 8, 1), date(2023, 8, 31), lambda h: {17: 2.0, 3: 1.0}.get(h.hour, 0.0)
    )
    assert charges(tariffs, "tou", reads, "UTC", date(2023, 8, 31), 31) == pytest.approx(33.12)


def test_a_partial_year_is_scaled_and_flagged(tariffs: TariffFile) -> None:
    # Reads from 20 October to 31 December 2023 only, 1 kWh an hour: 12 + 30 + 31 = 73 days, 1,752 kWh.
    #   energy 1,752 x 0.16 = 280.32; fixed 10 x (12/31 + 1 + 1) = 23.870968; together 304.190968
    #   scaled to a year: x 365 / 73 = x 5 = 1,520.954839 -> $1,520.95
    reads = pd.concat(
        [
            hourly_reads("part", date(2023, 10, 20), date(2023, 12, 31)),
            hourly_reads("whole", date(2023, 1, 1), date(2023, 12, 31)),
        ]
    )
    usage = usage_from_reads(reads, {"part": "UTC", "whole": "UTC", "none": "UTC"}, date(2023, 12, 31))
    bills = annual_bills(tariffs, usage)
    flat = bills.tariffs.index("flat")
    assert bills.annual[0, flat] == 1520.95
    assert bills.days_read.tolist() == [73, 365, 0]
    assert bills.scaled.tolist() == [True, False, False]
    assert bills.scale[0] == 5.0
    # a whole year at 1 kWh an hour: 8,760 x 0.16 + 120 = $1,521.60 (not scaled)
    assert bills.annual[1, flat] == 1521.60
    assert np.isnan(bills.annual[2]).all()  # no reads: no bill
