"""The detector on hand-made homes: each meter's threshold from its own history, the weather model,
a whole day's rise told from busy evenings, no-use days as their own type, added baseload told from a
flat line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridjourney.metering.features import daily_features
from gridjourney.scoring import anomaly
from gridjourney.scoring.anomaly_signals import signals_of
from gridjourney.scoring.dataset import Dataset

ZONE = "Europe/London"
TEMPERATURES = Path(__file__).resolve().parent / "data" / "london_2013_temperature.csv"
DAYS = 90


def home(
    name: str,
    *,
    seed: int,
    day_noise: float = 0.05,
    heating_kwh_per_degree_day: float = 0.0,
    temps: np.ndarray | None = None,
    change: tuple[int, int, str] | None = None,
) -> pd.DataFrame:
    """Hourly reads of 2013-01-01 on: 0.25 kW at night, a morning and an evening bump, day-to-day
    noise, heating below 15.5 °C spread over the day, and an optional change (first day, days, kind:
    x1.4, zero, +1 kW)."""
    rng = np.random.default_rng(seed)
    hours = np.arange(24)
    shape = 0.25 + 0.5 * np.isin(hours, [7, 8]) + 1.2 * np.isin(hours, [18, 19, 20])
    t = temps if temps is not None else np.full(DAYS, 10.0)
    days = []
    for d in range(DAYS):
        load = shape * rng.lognormal(0.0, day_noise) * rng.lognormal(0.0, 0.05, 24)
        load = load + heating_kwh_per_degree_day * max(15.5 - t[d], 0.0) / 24.0
        if change is not None and change[0] <= d < change[0] + change[1]:
            load = {"scale": load * 1.4, "zero": load * 0.0, "plus_1kw": load + 1.0}[change[2]]
        days.append(load)
    read_at = pd.date_range("2013-01-01", periods=DAYS * 24, freq="h", tz="UTC")
    return pd.DataFrame(
        {"customer_id": name, "read_at": read_at, "interval_seconds": 3600, "kwh": np.concatenate(days)}
    )


@pytest.fixture(scope="module")
def detector(dataset: Dataset) -> anomaly.AnomalyDetector:
    return anomaly.fit_detector(dataset.daily)


def _alerts(
    detector: anomaly.AnomalyDetector, reads: pd.DataFrame, temps: pd.DataFrame | None = None
) -> pd.DataFrame:
    return anomaly.detect(detector, daily_features(reads, time_zone=ZONE, temperatures=temps)).alerts


def test_each_meter_is_judged_against_its_own_spread(detector: anomaly.AnomalyDetector) -> None:
    steady = home("steady", seed=1, day_noise=0.05, change=(60, 5, "scale"))
    swinging = home("swinging", seed=2, day_noise=0.3, change=(60, 5, "scale"))
    reads = pd.concat([steady, swinging])
    alerts = _alerts(detector, reads)
    found = alerts[alerts["customer_id"] == "steady"]
    assert found["anomaly_type"].tolist() == ["step_increase"]
    assert (
        pd.Timestamp("2013-03-02") <= pd.Timestamp(found["alert_date"].iloc[0]) <= pd.Timestamp("2013-03-06")
    )
    # The same +40 % over four days scores far lower in the home whose days swing anyway.
    sig = signals_of(daily_features(reads, time_zone=ZONE))
    day = sig.daily.dates.get_loc(pd.Timestamp("2013-03-04"))
    rows = [sig.daily.customers.get_loc(c) for c in ("steady", "swinging")]
    steady_raw, swinging_raw = (sig.raw["level_4d"][r, day] for r in rows)
    steady_z, swinging_z = (sig.z["level_4d"][r, day] for r in rows)
    assert steady_z >= detector.multipliers["level_4d"]
    assert swinging_raw >= steady_raw and swinging_z < 0.75 * steady_z


def test_a_cold_week_in_a_heated_home_is_expected_with_the_weather(detector: anomaly.AnomalyDetector) -> None:
    temps = pd.read_csv(TEMPERATURES).head(DAYS)
    t = temps["tmean_c"].to_numpy().copy()
    t[60:67] -= 12.0  # a hard frost on top of the real winter
    frame = pd.DataFrame({"date": temps["date"], "temperature_c": t})
    reads = home("heated", seed=3, heating_kwh_per_degree_day=2.0, temps=t)
    assert _alerts(detector, reads, frame).empty
    # Without temperatures, the weather-free form sees a week of much higher use; the weather explains it.
    frost = slice(62, 67)
    weather_free = signals_of(daily_features(reads, time_zone=ZONE)).raw["level_4d"][0, frost]
    with_weather = signals_of(daily_features(reads, time_zone=ZONE, temperatures=frame)).raw["level_4d"]
    assert weather_free.max() >= 0.3 and with_weather[0, frost].max() < 0.05


def test_zero_days_are_no_use_and_one_kw_more_is_added_baseload(detector: anomaly.AnomalyDetector) -> None:
    reads = pd.concat(
        [home("away", seed=4, change=(70, 2, "zero")), home("heater", seed=5, change=(70, 7, "plus_1kw"))]
    )
    alerts = _alerts(detector, reads).set_index("customer_id")
    assert alerts.loc["away", "anomaly_type"] == "no_use"
    assert str(alerts.loc["away", "alert_date"]) == "2013-03-12"  # the first day at zero
    assert "Almost no use" in str(alerts.loc["away", "description"])
    assert alerts.loc["heater", "anomaly_type"] == "added_baseload"
    # The utility rule finds no increase in a day at zero, but the same no-use check runs with it.
    rule = anomaly.rule_detect(daily_features(reads, time_zone=ZONE)).alerts
    assert rule[rule["customer_id"] == "away"]["anomaly_type"].tolist() == ["no_use"]


def test_the_multipliers_are_learnt_from_simulated_days(dataset: Dataset) -> None:
    detector = anomaly.fit_detector(dataset.daily)
    assert set(detector.multipliers) == set(anomaly.FEATURES)
    assert all(np.isfinite(v) and v > 0 for v in detector.multipliers.values())
    assert detector.trained_days > 1000
    with pytest.raises(ValueError, match="at least 50"):
        anomaly.fit_detector(dataset.daily.head(30))


def test_one_kw_more_in_a_home_whose_nights_swing_is_still_added_baseload(
    detector: anomaly.AnomalyDetector,
) -> None:
    # Night storage heating of 0 to 2 kW, a different amount each night: +1 kW is within what the nights
    # do alone, but the whole day rose, and its extra kWh sit in the night.
    reads = home("storage", seed=9, change=(70, 7, "plus_1kw"))
    rng = np.random.default_rng(9)
    night = reads["read_at"].dt.hour.between(1, 4).to_numpy()
    heat = np.repeat(rng.uniform(0.0, 2.0, DAYS), 24)
    reads = reads.assign(kwh=reads["kwh"] + np.where(night, heat, 0.0))
    sig = signals_of(daily_features(reads, time_zone=ZONE))
    first = sig.daily.dates.get_loc(pd.Timestamp("2013-03-12"))
    assert sig.z["baseload_dev"][0, first] < detector.multipliers["baseload_dev"]
    alerts = _alerts(detector, reads)
    assert alerts["anomaly_type"].tolist()[:1] == ["added_baseload"]
    assert str(alerts["alert_date"].iloc[0]) <= "2013-03-18"  # while the +1 kW lasts
    assert "step_increase" not in set(alerts["anomaly_type"])  # nor a second message as it ends


def _scaled(reads: pd.DataFrame, blocks: list[tuple[int, int, float]]) -> pd.DataFrame:
    """The reads with (first day, days, factor) blocks of whole days scaled."""
    day = ((reads["read_at"] - reads["read_at"].min()).dt.days).to_numpy()
    factor = np.ones(len(reads))
    for first, days, scale in blocks:
        factor[(day >= first) & (day < first + days)] = scale
    return reads.assign(kwh=reads["kwh"] * factor)


def _busy_evenings(reads: pd.DataFrame, first: int, days: int) -> pd.DataFrame:
    """The reads with the evening hours (17:00-22:00) tripled for `days` days from day `first`."""
    day = ((reads["read_at"] - reads["read_at"].min()).dt.days).to_numpy()
    hour = reads["read_at"].dt.hour.to_numpy()
    busy = (day >= first) & (day < first + days) & (hour >= 17) & (hour < 22)
    return reads.assign(kwh=np.where(busy, reads["kwh"] * 3.0, reads["kwh"]))


def test_a_rise_of_the_whole_day_is_a_step_and_busy_evenings_are_not(
    detector: anomaly.AnomalyDetector,
) -> None:
    # Guests for five evenings add as many kWh as +50 % all day, but the night and the median hour stay.
    guests = _busy_evenings(home("guests", seed=6), 66, 5)
    scaled = _scaled(home("scaled", seed=6), [(66, 5, 1.5)])
    reads = pd.concat([guests, scaled])
    days = daily_features(reads, time_zone=ZONE).set_index(["customer_id", "date"])["kwh"]
    extra = {c: days[c].iloc[66:71].sum() - days[c].iloc[59:64].sum() for c in ("guests", "scaled")}
    assert extra["guests"] >= 0.8 * extra["scaled"]
    alerts = _alerts(detector, reads)
    assert alerts[alerts["customer_id"] == "scaled"]["anomaly_type"].tolist() == ["step_increase"]
    assert "step_increase" not in set(alerts[alerts["customer_id"] == "guests"]["anomaly_type"])
    sig = signals_of(daily_features(reads, time_zone=ZONE))
    r, c = sig.daily.customers.get_loc("guests"), sig.daily.dates.get_loc(pd.Timestamp("2013-03-11"))
    assert sig.raw["level"][r, c] >= 0.5 and sig.raw["whole_day"][r, c] < anomaly.MIN_LEVEL


def test_a_whole_day_up_in_a_home_with_a_shower_peak_is_a_step_not_a_spike(
    detector: anomaly.AnomalyDetector,
) -> None:
    # 140 W all day and a 9.5 kW shower hour: x1.5 lifts the peak by 4.75 kW and adds 6.4 kWh, as a
    # spike would, but the night and the median hour rose with it.
    rng = np.random.default_rng(8)
    shape = np.where(np.arange(24) == 19, 9.5, 0.14)
    load = shape * rng.lognormal(0.0, 0.05, (DAYS, 24))
    load[66:71] *= 1.5
    read_at = pd.date_range("2013-01-01", periods=DAYS * 24, freq="h", tz="UTC")
    reads = pd.DataFrame(
        {"customer_id": "shower", "read_at": read_at, "interval_seconds": 3600, "kwh": load.ravel()}
    )
    alerts = _alerts(detector, reads)
    assert alerts["anomaly_type"].tolist() == ["step_increase"]
    sig = signals_of(daily_features(reads, time_zone=ZONE))
    first = sig.daily.dates.get_loc(pd.Timestamp("2013-03-08"))
    assert sig.raw["peak_dev"][0, first] >= anomaly.MIN_SPIKE_KW
    assert sig.raw["extra_kwh"][0, first] >= anomaly.MIN_SPIKE_KWH


def test_a_rise_across_a_new_billing_period_is_one_alert(detector: anomaly.AnomalyDetector) -> None:
    reads = _scaled(home("guests", seed=7), [(55, 12, 1.5)])  # 2013-02-25 to 2013-03-08
    alerts = _alerts(detector, reads)
    assert alerts["anomaly_type"].tolist() == ["step_increase"]
    assert pd.Timestamp(alerts["alert_date"].iloc[0]) < pd.Timestamp("2013-03-01")


def test_a_whole_day_up_in_a_home_whose_hours_are_mostly_off_is_a_step(
    detector: anomaly.AnomalyDetector,
) -> None:
    # A fridge that runs in 10 of the 24 hours and an evening: the median hour is zero, so x1.5 leaves
    # the hours' median at zero; the total and the night tell it.
    rng = np.random.default_rng(10)
    on = np.isin(np.arange(24), [1, 3, 6, 9, 12, 15, 18, 19, 20, 22])
    day_noise = rng.lognormal(0.0, 0.05, (DAYS, 1))
    load = np.where(on, 0.25, 0.0) * day_noise * rng.lognormal(0.0, 0.05, (DAYS, 24))
    load[:, 18:21] += 0.6
    load[66:71] *= 1.5
    read_at = pd.date_range("2013-01-01", periods=DAYS * 24, freq="h", tz="UTC")
    reads = pd.DataFrame(
        {"customer_id": "fridge", "read_at": read_at, "interval_seconds": 3600, "kwh": load.ravel()}
    )
    sig = signals_of(daily_features(reads, time_zone=ZONE))
    days = sig.daily.dates.slice_indexer(pd.Timestamp("2013-03-08"), pd.Timestamp("2013-03-12"))
    assert np.isnan(sig.raw["mid"][0, days]).all()
    alerts = _alerts(detector, reads)
    assert alerts["anomaly_type"].tolist() == ["step_increase"]
    assert "2013-03-08" <= str(alerts["alert_date"].iloc[0]) <= "2013-03-15"


def test_a_whole_day_up_with_a_lone_raised_night_is_still_a_step(detector: anomaly.AnomalyDetector) -> None:
    # +50 % for 5 days; on the first and the last of them the night rose further, enough to look like
    # added baseload on that day alone. Two lone days are no added baseload (it needs 2 days running),
    # and they must not hide the week's rise either.
    rng = np.random.default_rng(11)
    shape = np.where(np.arange(24) < 6, 0.3, 0.5) + 1.5 * np.isin(np.arange(24), [18, 19, 20])
    load = shape * rng.lognormal(0.0, 0.05, (DAYS, 1)) * rng.lognormal(0.0, 0.03, (DAYS, 24))
    load[66:71] *= 1.5
    load[[66, 70], :6] += 0.3
    read_at = pd.date_range("2013-01-01", periods=DAYS * 24, freq="h", tz="UTC")
    reads = pd.DataFrame(
        {"customer_id": "nights", "read_at": read_at, "interval_seconds": 3600, "kwh": load.ravel()}
    )
    alerts = _alerts(detector, reads)
    assert alerts["anomaly_type"].tolist() == ["step_increase"]
    assert "2013-03-08" <= str(alerts["alert_date"].iloc[0]) <= "2013-03-15"


def test_a_whole_day_up_for_five_days_with_one_day_out_is_a_step(detector: anomaly.AnomalyDetector) -> None:
    # +50 % for 5 days, but the household was out for most of the middle one: the week is judged on
    # its best 4 days, so the day out does not pull the rise under the floor.
    reads = _scaled(home("out", seed=12), [(66, 5, 1.5), (68, 1, 0.3)])
    alerts = _alerts(detector, reads)
    assert alerts["anomaly_type"].tolist() == ["step_increase"]
    assert "2013-03-08" <= str(alerts["alert_date"].iloc[0]) <= "2013-03-15"
    sig = signals_of(daily_features(reads, time_zone=ZONE))
    out, last = sig.daily.dates.get_indexer(pd.DatetimeIndex(["2013-03-10", "2013-03-12"]))
    assert sig.raw["whole_day"][0, out] < -1.0  # the day out
    assert sig.raw["level_4d"][0, last] >= 0.35
