"""The mid-cycle bill projection on planted series: its day-type shape, its trend, its weather and
its range; the event's range, and the high-bill alert's trigger and text that use it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from gridjourney.content import render
from gridjourney.dsl.expressions import evaluate
from gridjourney.dsl.loader import load_journey_file
from gridjourney.events.types import validate_payload
from gridjourney.metering.features import HDD_BASE_F
from gridjourney.metering.holidays import public_holidays
from gridjourney.scoring.bill_projection import project_bills
from gridjourney.scoring.bill_remaining import remaining_use
from gridjourney.scoring.events import projection_events

ROOT = Path(__file__).resolve().parents[2]
START = date(2024, 1, 1)


def _daily(kwh: np.ndarray, temperature_c: np.ndarray | None = None, customer: str = "A") -> pd.DataFrame:
    dates = pd.date_range(START, periods=len(kwh))
    frame = pd.DataFrame({"customer_id": customer, "date": dates, "kwh": kwh})
    if temperature_c is None:
        return frame.assign(hdd=np.nan, cdd=np.nan)
    temp_f = temperature_c * 1.8 + 32
    return frame.assign(hdd=np.clip(HDD_BASE_F - temp_f, 0, None), cdd=np.clip(temp_f - HDD_BASE_F, 0, None))


def _weekend_home(days: int, seed: int, noise: float = 0.01) -> np.ndarray:
    """10 kWh on working days, 20 at weekends and on (US) public holidays, with day-to-day noise."""
    dates = pd.date_range(START, periods=days)
    off = (dates.day_of_week >= 5) | np.isin(dates.date, sorted(public_holidays(2024)))
    shape = np.where(off, 20.0, 10.0)
    return shape * np.random.default_rng(seed).normal(1.0, noise, days)


def _errors_at_day_15(
    kwh: np.ndarray, temperature_c: np.ndarray | None = None
) -> tuple[list[float], list[float]]:
    """(projection, naive) absolute kWh errors of each whole calendar month after the first two."""
    daily = _daily(kwh, temperature_c)
    ours, naive = [], []
    dates = pd.date_range(START, periods=len(kwh)).date
    for month in range(3, 12):
        start = date(2024, month, 1)
        end = date(2024, month + 1, 1) - timedelta(days=1)
        if end > dates[-1]:
            break
        as_of = start + timedelta(days=14)
        upto = daily[daily["date"].dt.date <= as_of]
        [row] = project_bills(
            upto, as_of=as_of, billing_cycle_day={"A": 1}, require_typical=False
        ).projections.to_dict("records")
        cycle = kwh[(dates >= start) & (dates <= end)]
        ours.append(abs(row["projected_kwh"] - cycle.sum()))
        naive.append(abs(cycle[:15].mean() * len(cycle) - cycle.sum()))
    return ours, naive


def test_the_weekend_shape_beats_the_naive_projection() -> None:
    ours, naive = _errors_at_day_15(_weekend_home(330, seed=1))
    # The naive projection over- or under-counts the weekends left; the projection counts them.
    assert sum(o < n for o, n in zip(ours, naive, strict=True)) >= 0.8 * len(ours)
    assert np.mean(ours) < 0.5 * np.mean(naive)


def test_a_step_in_use_is_followed_from_the_last_days() -> None:
    # Someone moves in on the 8th of each month from March on and out at the month's end: the last
    # week says more about the rest of the month than the first days of the cycle do.
    dates = pd.date_range(START, periods=330)
    kwh = np.where((dates.month >= 3) & (dates.day >= 8), 15.0, 8.0)
    kwh = kwh * np.random.default_rng(2).normal(1.0, 0.02, len(kwh))
    ours, naive = _errors_at_day_15(kwh)
    assert all(o < n for o, n in zip(ours, naive, strict=True))


def test_temperatures_ahead_move_a_heated_home_projection() -> None:
    days = 120
    rng = np.random.default_rng(3)
    temperature = 10 + 6 * np.sin(np.arange(days) / 9.0)
    kwh = 8 + 1.5 * np.clip(15.5 - temperature, 0, None) + rng.normal(0, 0.3, days)
    history = pd.Series(kwh[:100], index=pd.date_range(START, periods=100))
    ahead = pd.date_range(history.index[-1] + pd.Timedelta(days=1), periods=14)
    cold = pd.concat([pd.Series(temperature[:100], index=history.index), pd.Series(0.0, index=ahead)])
    mild = pd.concat([pd.Series(temperature[:100], index=history.index), pd.Series(15.5, index=ahead)])
    freezing, normal = (
        remaining_use(history, ahead, temperature_c=cold),
        remaining_use(history, ahead, temperature_c=mild),
    )
    assert freezing.weather_adjusted and normal.weather_adjusted
    # 15.5 heating degree-days a day for 14 days at ~1.5 kWh each: about 325 kWh more
    assert 250 < freezing.kwh - normal.kwh < 400
    weather_free = remaining_use(history, ahead)
    assert not weather_free.weather_adjusted


def test_the_range_holds_about_eight_cycles_in_ten() -> None:
    inside = total = 0
    for seed in range(6):
        kwh = _weekend_home(365, seed=10 + seed, noise=0.05) * np.random.default_rng(seed).normal(
            1.0, 0.15, 365
        )
        daily = _daily(kwh)
        dates = pd.date_range(START, periods=365).date
        for month in range(4, 12):
            start, end = date(2024, month, 1), date(2024, month + 1, 1) - timedelta(days=1)
            as_of = start + timedelta(days=14)
            p = project_bills(
                daily[daily["date"].dt.date <= as_of],
                as_of=as_of,
                billing_cycle_day={"A": 1},
                require_typical=False,
            ).projections.iloc[0]
            assert p["projected_kwh_low"] < p["projected_kwh"] < p["projected_kwh_high"]
            actual = kwh[(dates >= start) & (dates <= end)].sum()
            inside += int(p["projected_kwh_low"] <= actual <= p["projected_kwh_high"])
            total += 1
    assert 0.65 <= inside / total <= 0.95


def test_the_event_carries_the_range_and_the_alert_uses_its_lower_bound() -> None:
    kwh = np.concatenate([np.full(60, 10.0), np.full(20, 16.0)]) * np.random.default_rng(4).normal(
        1, 0.05, 80
    )
    daily = _daily(kwh)
    projected = project_bills(daily, as_of=date(2024, 3, 20), billing_cycle_day={"A": 1})
    [event] = projection_events(projected.projections)
    payload = validate_payload(event.type, event.payload)
    assert payload["projected_amount_low"] < payload["projected_amount"] < payload["projected_amount_high"]

    [trigger] = load_journey_file(ROOT / "journeys" / "high_bill_alert.yaml").trigger
    when = trigger.when
    assert when is not None
    base = {"typical_amount": 100.0, "days_left": 10}
    sure = {**base, "projected_amount": 150.0, "projected_amount_low": 135.0, "projected_amount_high": 165.0}
    unsure = {
        **base,
        "projected_amount": 150.0,
        "projected_amount_low": 110.0,
        "projected_amount_high": 190.0,
    }
    no_range = {
        **base,
        "projected_amount": 150.0,
        "projected_amount_low": None,
        "projected_amount_high": None,
    }
    assert evaluate(when, {"event": sure}) is True
    assert evaluate(when, {"event": unsure}) is False
    assert evaluate(when, {"event": no_range}) is True

    variables = {
        "customer": {"customer_id": "c1", "name": "Ana"},
        "event": {**sure, "projected_amount_low": 190.0, "projected_amount_high": 230.0},
    }
    for channel in ("sms", "email", "push"):
        text = render(ROOT / "templates", channel, "high_bill_alert", "en", variables).body
        assert "between $190.00 and $230.00" in text, (channel, text)
    spanish = render(ROOT / "templates", "sms", "high_bill_alert", "es", variables).body
    assert "entre $190.00 y $230.00" in spanish
    plain = render(
        ROOT / "templates",
        "sms",
        "high_bill_alert",
        "en",
        {"customer": {}, "event": {**base, "projected_amount": 150.0}},
    )
    assert "between" not in plain.body and "$150.00" in plain.body


def test_a_short_history_of_lasting_ups_and_downs_gets_a_range_that_holds() -> None:
    # Six weeks of reads: too few backtests, so the range follows the day-to-day variation. A home
    # whose days stay high or low for a while (lag-1 autocorrelation 0.8) varies more over two weeks
    # than its day-to-day spread says; the range must hold about 8 of 10 such fortnights.
    inside = 0
    trials = 60
    for seed in range(trials):
        rng = np.random.default_rng(100 + seed)
        deviation = np.zeros(56)
        for day in range(1, 56):
            deviation[day] = 0.8 * deviation[day - 1] + rng.normal(0.0, 0.6)
        kwh = 10.0 * np.exp(0.15 * deviation)
        history = pd.Series(kwh[:42], index=pd.date_range(START, periods=42))
        ahead = pd.date_range(history.index[-1] + pd.Timedelta(days=1), periods=14)
        rest = remaining_use(history, ahead)
        assert rest.range_basis == "day-to-day variation"
        inside += int(rest.low_kwh <= kwh[42:].sum() <= rest.high_kwh)
    assert 0.7 <= inside / trials <= 0.97
