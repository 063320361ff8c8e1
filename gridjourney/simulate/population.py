"""Customers, premises and their hidden traits: archetype, anomaly plan, DR and churn propensities.

Hidden labels are drawn from features a model can see (attributes, usage level, temperature
sensitivity, load shape) plus noise, so a good model can learn them but never perfectly.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from gridjourney.simulate.archetypes import ARCHETYPE_NAMES, ARCHETYPES
from gridjourney.simulate.weather import CLIMATES, ZONES

LOCALES = ("en", "es", "vi", "zh")
LOCALE_WEIGHTS = (0.72, 0.2, 0.04, 0.04)
AREA_CODES = {
    "America/New_York": "212",
    "America/Chicago": "312",
    "America/Denver": "303",
    "America/Phoenix": "602",
    "America/Los_Angeles": "503",
}
ANOMALY_TYPES = ("step_increase", "flat_line", "added_baseload", "spike", "shifted_peak")
ANOMALY_WEIGHTS = (0.35, 0.15, 0.2, 0.15, 0.15)
DAYS_BEFORE_FIRST_ANOMALY = 28
LOGIT_NOISE = 0.5  # sd of each customer's unobservable part of a propensity's logit


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))


def averaged_over_noise(drivers: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """E[sigmoid(drivers + noise)] over the logit noise N(0, LOGIT_NOISE), by Gauss-Hermite quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(32)
    values = _sigmoid(np.asarray(drivers, dtype=np.float64)[:, None] + LOGIT_NOISE * nodes[None, :])
    return np.asarray(values @ weights / weights.sum(), dtype=np.float64)


def make_population(n: int, seed: int, days: int, anomaly_rate: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(customers, anomalies). `customers` holds visible attributes and hidden generation parameters
    and labels; `anomalies` one row per planted anomaly (local day indices)."""
    rng = np.random.default_rng([seed, 1])
    weights = np.array([a.weight for a in ARCHETYPES])
    arch = rng.choice(len(ARCHETYPES), size=n, p=weights / weights.sum())
    names = np.array(ARCHETYPE_NAMES)[arch]
    zone_w = np.array([CLIMATES[z][3] for z in ZONES])
    zone = rng.choice(len(ZONES), size=n, p=zone_w / zone_w.sum())
    ids = np.array([f"sim-{i:06d}" for i in range(1, n + 1)])
    business = names == "business_hours"
    solar = names == "solar_export"
    ev = names == "ev_night"
    dwelling = np.where(
        business,
        "small_business",
        rng.choice(["single_family", "apartment", "townhouse"], n, p=[0.6, 0.3, 0.1]),
    )
    dwelling = np.where((names == "low_use") & (rng.random(n) < 0.7), "apartment", dwelling)
    sqft = np.round(
        np.where(dwelling == "apartment", 800, np.where(business, 2500, 1800)) * rng.lognormal(0, 0.25, n), -1
    )
    tariff = np.where(
        business,
        "commercial_small",
        np.where(solar, "nem", np.where(ev & (rng.random(n) < 0.8), "ev_tou", "residential_flat")),
    )
    tariff = np.where((tariff == "residential_flat") & (rng.random(n) < 0.25), "residential_tou", tariff)
    thermostat = rng.random(n) < np.where(names == "heating_cooling", 0.45, 0.22)
    online = rng.random(n) < 0.6
    tenure = np.round(rng.gamma(2.0, 4.0, n), 1)
    late = rng.poisson(np.where(names == "low_use", 0.8, 0.35))
    contacts = rng.poisson(0.6, n)
    scale = rng.lognormal(0.0, 0.25, n) * (sqft / np.where(business, 2500, 1800)) ** 0.4
    climate_cool = np.array([CLIMATES[z][0] for z in ZONES])[zone]
    cool_coef = np.array([a.cool_kw_per_c for a in ARCHETYPES])[arch] * rng.lognormal(0, 0.3, n) * scale
    heat_coef = np.array([a.heat_kw_per_c for a in ARCHETYPES])[arch] * rng.lognormal(0, 0.3, n) * scale
    peaky = np.isin(names, ["evening_peak", "heating_cooling", "ev_night", "solar_export"])
    # Hidden propensities: the drivers (attributes, habits and physics a model can learn from the
    # reads) + each customer's own noise on the logit, which nothing observable shows.
    enrol_drivers = (
        -1.4
        + 1.5 * thermostat
        + 0.8 * online
        + 4.0 * cool_coef
        + 0.5 * peaky
        + 0.6 * np.log(scale)
        - 0.5 * (late > 0)
        - 0.6 * business
    )
    enrol_noise = rng.normal(0, LOGIT_NOISE, n)
    respond_drivers = (
        -0.6
        + 1.3 * thermostat
        + 0.9 * ev
        + 0.7 * (names == "home_all_day")
        + 3.0 * cool_coef
        - 1.0 * business
        - 0.8 * (names == "low_use")
    )
    respond_noise = rng.normal(0, LOGIT_NOISE, n)
    churn_drivers = (
        -2.3
        + 0.6 * contacts
        + 0.9 * (late > 0)
        - 0.45 * np.sqrt(tenure)
        + 0.7 * ~online
        + 0.5 * (tariff == "residential_flat") * np.log(scale + 0.5)
        + 0.4 * (climate_cool > 20)
    )
    churn_noise = rng.normal(0, LOGIT_NOISE, n)
    enrol_p = _sigmoid(enrol_drivers + enrol_noise)
    respond_p = _sigmoid(respond_drivers + respond_noise)
    churn_p = _sigmoid(churn_drivers + churn_noise)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "premise_id": [f"P{i:07d}" for i in range(1, n + 1)],
            "meter_id": [f"M{i:07d}" for i in range(1, n + 1)],
            "archetype": names,
            "time_zone": np.array(ZONES)[zone],
            "locale": rng.choice(LOCALES, n, p=LOCALE_WEIGHTS),
            "dwelling": dwelling,
            "sqft": sqft,
            "tariff": tariff,
            "billing_cycle_day": rng.integers(1, 29, n),
            "has_smart_thermostat": thermostat,
            "online_account": online,
            "paperless": online & (rng.random(n) < 0.6),
            "budget_billing": rng.random(n) < 0.1,
            "income_assistance": (names == "low_use") & (rng.random(n) < 0.3),
            "tenure_years": tenure,
            "late_payments_12m": late,
            "contacts_12m": contacts,
            "sms_marketing": rng.random(n) < 0.55,
            "sms_informational": rng.random(n) < 0.8,
            "email_marketing": rng.random(n) < 0.7,
            "email_informational": rng.random(n) < 0.9,
            # Hidden generation parameters.
            "scale": scale,
            "shift_hours": rng.normal(0.0, 0.6, n),
            "heat_kw_per_c": heat_coef,
            "cool_kw_per_c": cool_coef,
            "ev_kw": np.where(ev, rng.choice([6.6, 7.2, 9.6], n), 0.0),
            "ev_kwh_per_night": np.where(ev, rng.uniform(8, 20, n), 0.0),
            "ev_start_hour": np.where(ev, np.where(tariff == "ev_tou", 23.0, rng.uniform(19, 23, n)), 0.0),
            "solar_kw": np.where(solar, rng.uniform(2.5, 6.5, n), 0.0),
            # Hidden labels.
            "dr_enrol_propensity": enrol_p,
            "dr_enrolled": rng.random(n) < enrol_p,
            "dr_response_propensity": respond_p,
            "dr_responder": rng.random(n) < respond_p,
            "churn_risk": churn_p,
            "churned": rng.random(n) < churn_p,
            # The best any model can know: the probability given the drivers, the noise averaged out.
            "dr_enrol_propensity_observable": averaged_over_noise(enrol_drivers),
            "dr_response_propensity_observable": averaged_over_noise(respond_drivers),
            "churn_risk_observable": averaged_over_noise(churn_drivers),
        }
    )
    customers["phone"] = [
        # 555-01xx numbers are reserved for fiction.
        f"+1{AREA_CODES[z]}5550{100 + i % 100:03d}"
        for i, z in enumerate(customers["time_zone"])
    ]
    customers["email"] = [f"{c}@example.com" for c in ids]
    return customers, _anomaly_plan(rng, ids, days, anomaly_rate)


def _anomaly_plan(
    rng: np.random.Generator, ids: npt.NDArray[np.str_], days: int, rate: float
) -> pd.DataFrame:
    first = min(DAYS_BEFORE_FIRST_ANOMALY, days // 2)
    chosen = np.flatnonzero(rng.random(len(ids)) < rate) if days - first >= 4 else np.array([], dtype=int)
    kinds = rng.choice(ANOMALY_TYPES, size=len(chosen), p=ANOMALY_WEIGHTS)
    onset = rng.integers(first, max(first + 1, days - 3), size=len(chosen))
    length = np.select(
        [kinds == "step_increase", kinds == "flat_line", kinds == "added_baseload", kinds == "spike"],
        [
            rng.integers(5, 21, len(chosen)),
            rng.integers(2, 8, len(chosen)),
            rng.integers(10, 31, len(chosen)),
            1,
        ],
        rng.integers(5, 16, len(chosen)),
    )
    magnitude = np.select(
        [kinds == "step_increase", kinds == "added_baseload", kinds == "spike", kinds == "shifted_peak"],
        [
            rng.uniform(0.3, 1.0, len(chosen)),
            rng.uniform(0.4, 1.2, len(chosen)),
            rng.uniform(12, 25, len(chosen)),
            rng.choice([-6.0, -5.0, -4.0, 4.0, 5.0, 6.0], len(chosen)),
        ],
        # flat_line: 0 = zeros, 1 = stuck at a constant reading
        (rng.random(len(chosen)) < 0.5).astype(float),
    )
    return pd.DataFrame(
        {
            "customer_id": ids[chosen],
            "anomaly_type": kinds,
            "onset_day": onset,
            "end_day": np.minimum(onset + length - 1, days - 1),
            "magnitude": magnitude,
        }
    )
