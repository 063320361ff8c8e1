"""The bill projection's error at mid-cycle on real reads: a Green Button file, or the LCL trial's homes.

Every billing cycle the reads cover whole is projected on its 15th day from the reads up to then, and
compared with the cycle's actual kWh and bill, and with the naive projection (the average day so far
times the cycle's length). A Green Button file tries cycles starting on every day 1-28 of the month,
so one household's year gives a few hundred projections; the LCL homes (`meters.csv.gz`, read with
gridjourney/dr/lcl.py) use cycles starting on the 1st, 8th, 15th and 22nd and England's bank holidays, and
are split into a tuning half and a held-out half by a hash of the meter id (the split of
scoring/real_eval.py), so that a figure tuned on one half is checked on the other. The daily mean
temperatures beside the LCL file (`london_2013_temperature.csv`) give each home's degree-day fit;
the projection uses it only with a forecast for the days ahead, so the homes are measured twice:
weather-free (production without a forecast) and with the observed temperatures given as the
forecast (a perfect one: an upper bound). A Green Button file has no weather: the projection is
weather-free.

Beside the naive method, each cycle also gets a ceiling: the rest of the cycle at a level known in
hindsight (the mean of the 14 days before the projection and the 14 days after the cycle, never the
days projected). How often even that beats the naive method says how much any projection can.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from gridjourney.dr import lcl
from gridjourney.metering.errors import GreenButtonError
from gridjourney.metering.features import HDD_BASE_F, daily_features
from gridjourney.metering.greenbutton import parse_greenbutton
from gridjourney.metering.holidays import ENGLAND, US
from gridjourney.scoring.bill_projection import DEFAULT_TARIFF, bill_amount, cycle_bounds, project_bills
from gridjourney.scoring.real_eval import halves
from gridjourney.weather.importer import parse_weather_file
from gridjourney.weather.readings import WeatherFileError

MID_CYCLE_DAY = 15
GREEN_BUTTON_CYCLE_DAYS = tuple(range(1, 29))
LCL_CYCLE_DAYS = (1, 8, 15, 22)
LCL_TEMPERATURES = "london_2013_temperature.csv"
MIN_COVERAGE = 0.9
HINDSIGHT_DAYS = 14  # on each side of the days projected
MIN_HINDSIGHT_AFTER = 10  # whole days read after the cycle, for a hindsight level


class BillSampleError(ValueError):
    """The file gives no projection to measure (one line, naming the file)."""


@dataclass(frozen=True)
class SampleSet:
    name: str  # what the figures are of, e.g. "coastal_multi_family_hourly_2011.xml" or "LCL, held-out half"
    projections: pd.DataFrame  # one row per projected cycle, see mid_cycle_projections


def sample_daily(path: Path, time_zone: str) -> pd.DataFrame:
    """A Green Button file's whole days; BillSampleError when the importer refuses it."""
    try:
        parsed = parse_greenbutton(path.read_bytes(), "sample", time_zone=time_zone)
    except GreenButtonError as exc:
        raise BillSampleError(f"{path}: refused by the Green Button importer: {exc}") from None
    if parsed.reads.empty:
        raise BillSampleError(f"{path}: no electricity interval reads")
    daily = daily_features(parsed.reads.assign(customer_id="sample"), time_zone=time_zone)
    return daily[daily["coverage"] >= MIN_COVERAGE].reset_index(drop=True)


def lcl_daily(path: Path) -> pd.DataFrame:
    """The LCL homes' whole days (Europe/London), with degree-days when the temperatures are beside."""
    directory = path.parent
    try:
        homes = lcl.read_homes(directory)
        reads = lcl.read_meters(
            directory, homes, datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
    except (lcl.LclDataError, KeyError, ValueError) as exc:
        raise BillSampleError(f"{path}: not the LCL meters file as expected: {exc}") from None
    temperatures = _lcl_temperatures(directory)
    daily = daily_features(reads, time_zone=lcl.TIME_ZONE, temperatures=temperatures)
    return daily[daily["coverage"] >= MIN_COVERAGE].reset_index(drop=True)


def _lcl_temperatures(directory: Path) -> pd.DataFrame | None:
    path = directory / LCL_TEMPERATURES
    if not path.is_file():
        return None
    try:
        days = parse_weather_file(path, station="heathrow").days
    except WeatherFileError as exc:
        raise BillSampleError(f"{path}: {exc}") from None
    return pd.DataFrame({"date": days["date"], "temp_f": days["temperature_c"] * 1.8 + 32})


def is_lcl_file(path: Path) -> bool:
    return path.name.startswith("meters.csv")


def mid_cycle_projections(
    daily: pd.DataFrame,
    *,
    tariff: str = DEFAULT_TARIFF,
    cycle_days: Iterable[int] = GREEN_BUTTON_CYCLE_DAYS,
    holiday_calendar: str = US,
    temperatures_ahead: bool = False,
) -> pd.DataFrame:
    """One row per customer and whole cycle: customer_id, cycle_day, bill_period_start, projected,
    naive, hindsight (NaN without the reads after the cycle) and actual kWh, the projected kWh range
    (low, high), the projected and actual amounts, and ape / ape_kwh / naive_ape_kwh /
    hindsight_ape_kwh (absolute errors over the actual). `temperatures_ahead`: the days
    ahead's observed temperatures are given as the forecast (a perfect one: an upper bound)."""
    frame = daily.assign(day=pd.to_datetime(daily["date"]).dt.date)
    kwh = {
        (str(c), d): float(k)
        for c, d, k in zip(frame["customer_id"], frame["day"], frame["kwh"], strict=True)
    }
    first, last = min(frame["day"]), max(frame["day"])
    rows: list[dict[str, object]] = []
    for cycle_day in cycle_days:
        start, end = cycle_bounds(first, cycle_day)
        while end <= last:
            if start >= first:
                rows += _cycle(
                    frame, kwh, cycle_day, start, end, tariff, holiday_calendar, temperatures_ahead
                )
            start, end = cycle_bounds(end + timedelta(days=1), cycle_day)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["ape"] = (out["projected_amount"] - out["actual_amount"]).abs() / out["actual_amount"]
    out["ape_kwh"] = (out["projected_kwh"] - out["actual_kwh"]).abs() / out["actual_kwh"].abs()
    out["naive_ape_kwh"] = (out["naive_kwh"] - out["actual_kwh"]).abs() / out["actual_kwh"].abs()
    out["hindsight_ape_kwh"] = (out["hindsight_kwh"] - out["actual_kwh"]).abs() / out["actual_kwh"].abs()
    return out


def _cycle(
    frame: pd.DataFrame,
    kwh: dict[tuple[str, date], float],
    cycle_day: int,
    start: date,
    end: date,
    tariff: str,
    holiday_calendar: str,
    temperatures_ahead: bool,
) -> list[dict[str, object]]:
    """The projections of one cycle for every customer whose reads cover it whole."""
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    whole = [c for c in frame["customer_id"].unique() if all((str(c), d) in kwh for d in days)]
    if not whole:
        return []
    as_of = start + timedelta(days=MID_CYCLE_DAY - 1)
    upto = frame[(frame["day"] <= as_of) & frame["customer_id"].isin(whole)].drop(columns="day")
    forecast = None
    if temperatures_ahead:
        later = frame[(frame["day"] > as_of) & (frame["day"] <= end) & frame["customer_id"].isin(whole)]
        # The features' degree-days are from the day's mean temperature (°F, base 65).
        temp_c = (HDD_BASE_F - later["hdd"] + later["cdd"] - 32.0) / 1.8
        forecast = pd.DataFrame(
            {"customer_id": later["customer_id"], "date": later["date"], "temperature_c": temp_c}
        )
    result = project_bills(
        upto,
        as_of=as_of,
        billing_cycle_day={str(c): cycle_day for c in whole},
        tariff={str(c): tariff for c in whole},
        require_typical=False,
        holiday_calendar=holiday_calendar,
        forecast=forecast,
    )
    rows: list[dict[str, object]] = []
    for p in result.projections.to_dict("records"):
        actual = sum(kwh[(str(p["customer_id"]), d)] for d in days)
        so_far = sum(kwh[(str(p["customer_id"]), d)] for d in days[:MID_CYCLE_DAY])
        level = _hindsight_level(
            kwh, str(p["customer_id"]), days[MID_CYCLE_DAY - HINDSIGHT_DAYS : MID_CYCLE_DAY], end
        )
        rows.append(
            {
                "customer_id": p["customer_id"],
                "cycle_day": cycle_day,
                "bill_period_start": start,
                "projected_kwh": float(p["projected_kwh"]),
                "projected_kwh_low": float(p["projected_kwh_low"]),
                "projected_kwh_high": float(p["projected_kwh_high"]),
                "naive_kwh": so_far / MID_CYCLE_DAY * len(days),
                "hindsight_kwh": so_far + level * (len(days) - MID_CYCLE_DAY),
                "actual_kwh": actual,
                "projected_amount": float(p["projected_amount"]),
                "actual_amount": float(bill_amount(actual, tariff)),
                "weather_adjusted": bool(p["weather_adjusted"]),
            }
        )
    return rows


def _hindsight_level(
    kwh: dict[tuple[str, date], float], customer: str, before: list[date], end: date
) -> float:
    """The mean day of the days `before` and the HINDSIGHT_DAYS after `end`; NaN with too few after."""
    after = [end + timedelta(days=n) for n in range(1, HINDSIGHT_DAYS + 1)]
    read_after = [kwh[(customer, d)] for d in after if (customer, d) in kwh]
    if len(read_after) < MIN_HINDSIGHT_AFTER:
        return float("nan")
    before_mean = sum(kwh[(customer, d)] for d in before) / len(before)
    return (before_mean + sum(read_after) / len(read_after)) / 2


def summary(projections: pd.DataFrame) -> dict[str, float]:
    """The figures of a set of projections: cycles, MAPEs, the share of cycles where the projection
    is closer than the naive one, the share of actuals inside the 10-90 % range, and the same share
    and MAPE for the hindsight level (over the cycles that have one)."""
    p = projections
    inside = (p["actual_kwh"] >= p["projected_kwh_low"]) & (p["actual_kwh"] <= p["projected_kwh_high"])
    known = p[p["hindsight_kwh"].notna()]
    return {
        "cycles": float(len(p)),
        "mape_kwh": float(p["ape_kwh"].mean()),
        "naive_mape_kwh": float(p["naive_ape_kwh"].mean()),
        "beats_naive": float((p["ape_kwh"] < p["naive_ape_kwh"]).mean()),
        "range_coverage": float(inside.mean()),
        "mape_amount": float(p["ape"].mean()),
        "weather_adjusted": float(p["weather_adjusted"].mean()),
        "hindsight_cycles": float(len(known)),
        "hindsight_mape_kwh": float(known["hindsight_ape_kwh"].mean()) if len(known) else float("nan"),
        "hindsight_beats_naive": (
            float((known["hindsight_ape_kwh"] < known["naive_ape_kwh"]).mean())
            if len(known)
            else float("nan")
        ),
    }


def evaluate_file(path: Path, *, time_zone: str = "America/Los_Angeles") -> list[SampleSet]:
    """The projections on one file, as one set (a Green Button file) or two halves (the LCL homes).
    BillSampleError (one line) when the file gives none."""
    if not path.is_file():
        raise BillSampleError(f"{path}: no such file")
    if is_lcl_file(path):
        daily = lcl_daily(path)
        sets = []
        weathers = [("weather-free", False)]
        if daily["hdd"].notna().any():
            weathers.append(("observed temperatures as the forecast", True))
        for weather, ahead in weathers:
            projections = mid_cycle_projections(
                daily, cycle_days=LCL_CYCLE_DAYS, holiday_calendar=ENGLAND, temperatures_ahead=ahead
            )
            _require(path, projections)
            split = halves(sorted(str(m) for m in projections["customer_id"].unique()))
            for name, members in (("tuning", split["tuning_half"]), ("held-out", split["held_out_half"])):
                part = projections[projections["customer_id"].isin(members)]
                if part.empty:
                    continue
                sets.append(SampleSet(f"LCL {name} half ({len(members)} homes), {weather}", part))
        return sets
    projections = mid_cycle_projections(sample_daily(path, time_zone))
    _require(path, projections)
    return [SampleSet(path.name, projections)]


def _require(path: Path, projections: pd.DataFrame) -> None:
    if projections.empty:
        raise BillSampleError(
            f"{path}: no whole billing cycle with {MID_CYCLE_DAY} days before it to project from"
        )


def sample_mape(path: Path, *, time_zone: str = "America/Los_Angeles") -> tuple[float, pd.DataFrame]:
    """(MAPE of the amount, the projections) of the mid-cycle bill projection on a Green Button file."""
    projections = mid_cycle_projections(sample_daily(path, time_zone))
    _require(path, projections)
    return float(projections["ape"].mean()), projections
