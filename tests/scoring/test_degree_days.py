"""The change-point fit: planted balance points and slopes come back; a meter that ignores the weather
gets zero slopes; missing days and a vacancy do not bend the fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridjourney.scoring.degree_days import (
    NO_WEATHER,
    cooling_degree_days,
    expected_kwh,
    fit_balance_points,
    heating_degree_days,
)

LONDON = Path(__file__).resolve().parent / "data" / "london_2013_temperature.csv"


def _year_of_temperatures(seed: int) -> np.ndarray:
    days = np.arange(365)
    rng = np.random.default_rng(seed)
    return 12.0 - 9.0 * np.cos(2 * np.pi * (days - 15) / 365) + rng.normal(0, 2.5, 365)


def test_degree_days_are_the_distance_past_the_balance_point() -> None:
    t = np.array([5.0, 15.5, 20.0, np.nan])
    assert heating_degree_days(t, 15.5)[:3].tolist() == [10.5, 0.0, 0.0]
    assert cooling_degree_days(t, 18.0)[:3].tolist() == [0.0, 0.0, 2.0]
    assert np.isnan(heating_degree_days(t, 15.5)[3]) and np.isnan(cooling_degree_days(t, 18.0)[3])


@pytest.mark.parametrize(("heating", "cooling"), [(15.0, 22.0), (13.0, None), (None, 19.0)])
def test_a_planted_change_point_is_recovered(heating: float | None, cooling: float | None) -> None:
    t = _year_of_temperatures(3)
    rng = np.random.default_rng(4)
    kwh = 6.0 + rng.normal(0, 0.5, len(t))
    if heating is not None:
        kwh += 0.8 * heating_degree_days(t, heating)
    if cooling is not None:
        kwh += 1.2 * cooling_degree_days(t, cooling)
    fit = fit_balance_points(kwh, t)
    assert fit.base_kwh == pytest.approx(6.0, abs=0.4)
    if heating is None:
        assert fit.heating_slope == 0 and fit.heating_balance_c is None
    else:
        assert fit.heating_balance_c == pytest.approx(heating, abs=1.0)
        assert fit.heating_slope == pytest.approx(0.8, rel=0.15)
    if cooling is None:
        assert fit.cooling_slope == 0 and fit.cooling_balance_c is None
    else:
        assert fit.cooling_balance_c == pytest.approx(cooling, abs=1.0)
        assert fit.cooling_slope == pytest.approx(1.2, rel=0.15)


def test_a_meter_that_ignores_the_weather_gets_zero_slopes() -> None:
    t = pd.read_csv(LONDON)["tmean_c"].to_numpy()
    kwh = np.random.default_rng(5).gamma(9.0, 1.0, len(t))
    fit = fit_balance_points(kwh, t)
    assert (fit.heating_slope, fit.cooling_slope) == (0.0, 0.0)
    assert not fit.weather_dependent
    assert expected_kwh(fit, t) == pytest.approx(np.full(len(t), fit.base_kwh))


def test_missing_days_and_a_vacancy_do_not_bend_a_short_fit() -> None:
    t = _year_of_temperatures(6)[:60]  # a winter: 60 days
    rng = np.random.default_rng(7)
    kwh = 5.0 + 1.0 * heating_degree_days(t, 16.0) + rng.normal(0, 0.4, len(t))
    kwh[[3, 9, 10, 40]] = np.nan  # missing days
    kwh[20:38] = 0.0  # an 18-day vacancy
    fit = fit_balance_points(kwh, t)
    assert fit.heating_slope == pytest.approx(1.0, rel=0.25)
    # A cold week in this heated home is what the fit expects, not an anomaly.
    cold = np.full(7, t.min() - 2.0)
    assert expected_kwh(fit, cold) == pytest.approx(5.0 + 1.0 * (16.0 - cold), rel=0.15)


def test_too_few_days_gives_the_weather_free_form() -> None:
    fit = fit_balance_points([3.0, 4.0, 5.0], [1.0, 2.0, 3.0])
    assert (fit.base_kwh, fit.weather_dependent, fit.days) == (4.0, False, 3)
    assert NO_WEATHER.weather_dependent is False
    with pytest.raises(ValueError, match="temperatures"):
        fit_balance_points([1.0, 2.0], [1.0])
