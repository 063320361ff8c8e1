"""The mid-cycle bill projection on the real Green Button sample (a coastal multi-family home, 2011)."""

from __future__ import annotations

from pathlib import Path

from gridjourney.scoring.bill_sample import sample_mape

SAMPLE = Path(__file__).resolve().parents[1] / "metering" / "data" / "coastal_multi_family_hourly_2011.xml"


def test_mid_cycle_projection_error_on_the_real_sample() -> None:
    mape, projections = sample_mape(SAMPLE)
    # eleven whole cycles for each start day 1-28 of a calendar-year file
    assert len(projections) >= 28 * 10
    assert set(projections["cycle_day"]) == set(range(1, 29))
    assert mape < 0.05  # measured: 2.05 % (kWh: 2.47 %)
    assert projections["ape_kwh"].mean() < 0.06
