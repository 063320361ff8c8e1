"""Daily features and load shapes on small hand-made frames, checked against hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from gridjourney.metering import features
from gridjourney.metering.features import daily_features, hourly_kwh, load_shapes

NY = "America/New_York"

# Monday 2024-01-08 in New York (UTC-5), by local hour: overnight 0.5, morning 1, evening 2 with a 3 kWh
# peak at 18:00 (given as four 15-minute reads of 0.75), 1 elsewhere. Total 27 kWh.
MONDAY = {h: 1.0 for h in range(24)} | {1: 0.5, 2: 0.5, 3: 0.5, 4: 0.5, 17: 2.0, 18: 3.0, 19: 2.0, 20: 2.0}


def _row(customer: str, local: str, seconds: int, kwh: float, zone: str = NY) -> dict[str, object]:
    return {
        "customer_id": customer,
        "read_at": pd.Timestamp(local, tz=zone).tz_convert("UTC"),
        "interval_seconds": seconds,
        "kwh": kwh,
    }


def _customer_a() -> pd.DataFrame:
    rows = [_row("a", f"2024-01-0{d} 00:00", 86400, 10.0 * d) for d in range(1, 9)]  # daily reads
    for hour, kwh in MONDAY.items():
        if hour == 18:
            rows += [_row("a", f"2024-01-08 18:{m:02d}", 900, 0.75) for m in (0, 15, 30, 45)]
        else:
            rows.append(_row("a", f"2024-01-08 {hour:02d}:00", 3600, kwh))
    return pd.DataFrame(rows)


def test_daily_features_match_hand_computed_values() -> None:
    temps = pd.DataFrame({"date": ["2024-01-08", "2024-01-07"], "temp_f": [50.0, 70.0]})
    features = daily_features(_customer_a(), time_zone=NY, temperatures=temps).set_index("date")
    assert len(features) == 8
    monday = features.loc[pd.Timestamp("2024-01-08")]
    assert monday["kwh"] == pytest.approx(27.0)  # the day's 80 kWh daily read is not added
    assert monday["baseload_kwh"] == pytest.approx(0.5)
    assert monday["peak_kw"] == pytest.approx(3.0)
    assert monday["peak_hour"] == 18
    assert monday["load_factor"] == pytest.approx(27 / 24 / 3)  # 0.375
    assert monday["evening_morning_ratio"] == pytest.approx(9 / 4)  # (2+3+2+2) / (1+1+1+1)
    assert bool(monday["is_weekday"])
    assert (monday["hdd"], monday["cdd"]) == (15.0, 0.0)
    # The median of the seven days before (10..70 kWh) is 40: 27/40 - 1.
    assert monday["deviation_28d"] == pytest.approx(27 / 40 - 1)
    assert monday["hours"] == 24 and monday["coverage"] == pytest.approx(1.0)

    sunday = features.loc[pd.Timestamp("2024-01-07")]
    assert sunday["kwh"] == 70.0 and not bool(sunday["is_weekday"])
    assert (sunday["hdd"], sunday["cdd"]) == (0.0, 5.0)
    assert pd.isna(sunday["peak_kw"]) and pd.isna(sunday["peak_hour"])  # daily reads only
    assert math.isnan(sunday["deviation_28d"])  # only six days before it
    assert pd.isna(features.loc[pd.Timestamp("2024-01-02")]["hdd"])  # no temperature that day


def test_days_are_local_and_dst_days_have_their_own_length() -> None:
    # 2024-11-03 in New York has 25 hours (01:00 twice); 2024-03-10 has 23 (no 02:00).
    fall = pd.date_range(pd.Timestamp("2024-11-03", tz=NY), pd.Timestamp("2024-11-04", tz=NY), freq="h")[:-1]
    spring = pd.date_range(pd.Timestamp("2024-03-10", tz=NY), pd.Timestamp("2024-03-11", tz=NY), freq="h")[
        :-1
    ]
    stamps = fall.append(spring)
    reads = pd.DataFrame({"customer_id": "b", "read_at": stamps, "interval_seconds": 3600, "kwh": 1.0})
    features = daily_features(reads, time_zone={"b": NY}).set_index("date")
    columns = ["kwh", "hours", "coverage"]
    assert [features.at[pd.Timestamp("2024-11-03"), c] for c in columns] == [25.0, 25, 1.0]
    assert [features.at[pd.Timestamp("2024-03-10"), c] for c in columns] == [23.0, 23, 1.0]
    assert features.loc[pd.Timestamp("2024-11-03"), "load_factor"] == pytest.approx(1.0)
    hourly = hourly_kwh(reads, time_zone=NY)
    fall_hours = hourly.loc[hourly["date"] == pd.Timestamp("2024-11-03"), "hour"].tolist()
    spring_hours = hourly.loc[hourly["date"] == pd.Timestamp("2024-03-10"), "hour"].tolist()
    assert fall_hours[:4] == [0, 1, 1, 2]  # 01:00 EDT, then 01:00 EST
    assert 2 not in spring_hours and spring_hours[:3] == [0, 1, 3]
    # In UTC the same reads fall on other days.
    assert len(daily_features(reads, time_zone="UTC")) == 4


def test_a_customer_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone for customer"):
        daily_features(_customer_a(), time_zone={"someone-else": NY})


def test_load_shapes_are_normalised_per_half() -> None:
    monday = _customer_a()
    # A solar customer on Saturday 2024-01-06 (UTC): 1 kWh each hour but a 1 kWh export at 11-13.
    solar = pd.DataFrame(
        [
            _row("s", f"2024-01-06 {h:02d}:00", 3600, -1.0 if h in (11, 12, 13) else 1.0, "UTC")
            for h in range(24)
        ]
    )
    shapes = load_shapes(pd.concat([monday, solar]), time_zone={"a": NY, "s": "UTC"})
    a, s = shapes.loc["a"], shapes.loc["s"]
    assert a["wd_18"] == pytest.approx(3 / 27) and a["wd_01"] == pytest.approx(0.5 / 27)
    assert a.filter(like="wd_").sum() == pytest.approx(1.0)
    assert a.filter(like="we_").isna().all()  # the weekend had daily reads only
    assert s["we_12"] == pytest.approx(-1 / 24) and s["we_00"] == pytest.approx(1 / 24)
    assert s.filter(like="we_").abs().sum() == pytest.approx(1.0)
    assert list(shapes.columns[:2]) == ["wd_00", "wd_01"] and list(shapes.columns[-1:]) == ["we_23"]


def test_median_hour_distinct_hours_and_temperature_in_celsius() -> None:
    temps = pd.DataFrame({"date": ["2024-01-08"], "temperature_c": [10.0]})
    monday = daily_features(_customer_a(), time_zone=NY, temperatures=temps).set_index("date")
    row = monday.loc[pd.Timestamp("2024-01-08")]
    # 24 hourly values: four of 0.5, fifteen of 1, four of 2 and one of 3: the middle two are 1.
    assert row["median_hour_kwh"] == 1.0
    assert row["distinct_hours"] == 4
    assert row["temperature_c"] == pytest.approx(10.0)
    assert row["hdd"] == pytest.approx(65.0 - 50.0)
    # A stuck meter repeats one reading all day: one distinct value.
    stuck = pd.DataFrame([_row("s", f"2024-01-09 {h:02d}:00", 3600, 0.4) for h in range(24)])
    flat = daily_features(stuck, time_zone=NY).iloc[0]
    assert (flat["distinct_hours"], flat["median_hour_kwh"]) == (1, 0.4)
    assert math.isnan(flat["temperature_c"])
    with pytest.raises(ValueError, match="temperature_c"):
        daily_features(stuck, time_zone=NY, temperatures=pd.DataFrame({"date": ["2024-01-09"], "t": [1.0]}))


def test_the_profile_log_ratio_compares_each_hour_with_that_hour_on_days_of_the_same_kind() -> None:
    # Four weeks from Monday 2024-01-01 (UTC): workdays 1 kWh an hour, weekends 2. Then a week with
    # every hour x1.5, and a week whose four evening hours are x3.
    days = pd.date_range("2024-01-01", periods=42, freq="D")
    rows = []
    for n, day in enumerate(days):
        for hour in range(24):
            kwh = 2.0 if day.weekday() >= 5 else 1.0
            if 28 <= n < 35:
                kwh *= 1.5
            elif n >= 35 and 17 <= hour <= 20:
                kwh *= 3.0
            rows.append(_row("p", f"{day.date()} {hour:02d}:00", 3600, kwh, "UTC"))
    ratio = daily_features(pd.DataFrame(rows), time_zone="UTC").set_index("date")["profile_log_ratio"]
    floor = features.PROFILE_FLOOR_KWH
    scaled = math.log((1.5 + floor) / (1.0 + floor))
    assert math.isnan(ratio.iloc[0])  # no day before it
    assert ratio[pd.Timestamp("2024-01-29")] == pytest.approx(scaled)  # a raised Monday
    assert ratio[pd.Timestamp("2024-02-03")] == pytest.approx(math.log((3.0 + floor) / (2.0 + floor)))
    # A weekend of 2 kWh hours is usual for a weekend, and four busy evenings leave the median hour.
    assert ratio[pd.Timestamp("2024-01-27")] == pytest.approx(0.0)
    assert ratio[pd.Timestamp("2024-02-07")] == pytest.approx(0.0)
