"""The London trial's like-day rule: England's bank holidays and the Low-price days, in each run."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from gridjourney.dr.lcl import Home, _run, high_periods, low_price_days
from gridjourney.dr.like_days import subject_terms
from gridjourney.metering.holidays import ENGLAND

LCL = Path(__file__).resolve().parent / "data" / "lcl-2013-slice"


def test_low_price_days_are_the_days_with_a_low_signal() -> None:
    tariff = pd.read_csv(LCL / "dtou_tariff_2013.csv.gz")
    low = pd.to_datetime(tariff.loc[tariff["dtou_signal"] == "Low", "start"], utc=True)
    days = low_price_days(LCL)
    assert days and days == sorted(set(low.dt.tz_convert("Europe/London").dt.date))


def test_each_run_names_englands_calendar_and_the_low_days_of_its_lookback() -> None:
    [period, *_] = high_periods(LCL, date(2013, 3, 16), date(2013, 3, 16))
    event_day = period.start.date()
    low = [event_day - timedelta(days=back) for back in (1, 30, 61)] + [event_day + timedelta(days=1)]
    homes = [Home("MAC1", "ToU", "ACORN-A"), Home("MAC2", "Std", "ACORN-A")]
    run, members = _run(period, uuid.uuid4(), homes[:1], homes[1:], low)
    calendar, days = subject_terms(run["subject"])  # type: ignore[arg-type]
    assert calendar == ENGLAND
    # within the baseline's lookback and before the event day only
    assert days == {event_day - timedelta(days=1), event_day - timedelta(days=30)}
    assert [(m["customer_id"], m["holdout"]) for m in members] == [("lcl-MAC1", False), ("lcl-MAC2", True)]
