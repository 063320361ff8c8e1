"""Load-shape archetypes a utility recognises, as 24-hour kW profiles built from a few bumps.

Each archetype has a weekday and a weekend profile (holidays use the weekend one) and its own
sensitivity to temperature. EV charging and rooftop solar are added per customer in reads.py, on
top of the household profile, because they vary night to night and with the weather.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# (centre hour, height kW, width hours)
Bump = tuple[float, float, float]


@dataclass(frozen=True)
class Archetype:
    name: str
    weight: float  # share of customers
    base_kw: float
    weekday: tuple[Bump, ...]
    weekend: tuple[Bump, ...]
    heat_kw_per_c: float  # below HEAT_BASE_C
    cool_kw_per_c: float  # above COOL_BASE_C
    daily_kwh_hint: str


HEAT_BASE_C = 16.0
COOL_BASE_C = 22.0

ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "evening_peak",
        0.22,
        0.35,
        ((7.0, 0.5, 1.2), (19.0, 1.6, 1.8)),
        ((9.5, 0.7, 2.0), (13.0, 0.4, 3.0), (19.0, 1.4, 2.0)),
        0.03,
        0.08,
        "typical household",
    ),
    Archetype(
        "ev_night",
        0.10,
        0.35,
        ((7.0, 0.4, 1.2), (19.0, 1.0, 1.8)),
        ((10.0, 0.6, 2.0), (19.0, 1.0, 2.0)),
        0.03,
        0.07,
        "household with an EV charging overnight",
    ),
    Archetype(
        "solar_export",
        0.10,
        0.4,
        ((7.0, 0.5, 1.2), (19.5, 1.4, 1.8)),
        ((9.5, 0.6, 2.0), (19.5, 1.3, 2.0)),
        0.03,
        0.08,
        "household with rooftop solar",
    ),
    Archetype(
        "business_hours",
        0.10,
        0.9,
        ((10.0, 3.0, 2.6), (15.0, 3.0, 2.6)),
        ((12.0, 0.3, 3.0),),
        0.05,
        0.15,
        "small business open weekdays",
    ),
    Archetype(
        "night_owl",
        0.10,
        0.3,
        ((13.0, 0.3, 2.0), (23.0, 1.5, 2.2)),
        ((14.0, 0.4, 2.0), (0.5, 1.6, 2.2)),
        0.03,
        0.06,
        "late-night household",
    ),
    Archetype(
        "home_all_day",
        0.14,
        0.5,
        ((8.0, 0.6, 1.5), (13.0, 0.8, 3.0), (19.0, 1.0, 2.0)),
        ((9.0, 0.6, 1.5), (13.5, 0.9, 3.0), (19.0, 1.0, 2.0)),
        0.04,
        0.09,
        "someone home all day",
    ),
    Archetype(
        "low_use",
        0.12,
        0.18,
        ((7.0, 0.08, 1.0), (19.0, 0.15, 2.0)),
        ((10.0, 0.08, 2.0), (19.0, 0.15, 2.0)),
        0.005,
        0.01,
        "small apartment, low use",
    ),
    Archetype(
        "heating_cooling",
        0.12,
        0.6,
        ((7.0, 0.8, 1.5), (18.0, 1.2, 3.0)),
        ((9.0, 0.8, 2.0), (17.0, 1.2, 3.0)),
        0.16,
        0.22,
        "electric heating and air conditioning",
    ),
)
ARCHETYPE_NAMES: tuple[str, ...] = tuple(a.name for a in ARCHETYPES)


def _profile(base: float, bumps: tuple[Bump, ...], hours: FloatArray) -> FloatArray:
    out = np.full(hours.shape, base)
    for centre, height, width in bumps:
        # Circular distance so a bump near midnight wraps into the next/previous day.
        d = (hours - centre + 12.0) % 24.0 - 12.0
        out += height * np.exp(-0.5 * (d / width) ** 2)
    return out


def profile_table(intervals_per_day: int) -> FloatArray:
    """kW by [archetype, weekend (0/1), interval of day], at the middle of each interval."""
    hours = (np.arange(intervals_per_day) + 0.5) * 24.0 / intervals_per_day
    table = np.empty((len(ARCHETYPES), 2, intervals_per_day))
    for i, arch in enumerate(ARCHETYPES):
        table[i, 0] = _profile(arch.base_kw, arch.weekday, hours)
        table[i, 1] = _profile(arch.base_kw, arch.weekend, hours)
    return table


def archetype_load_shapes(n: int, seed: int, noise: float = 0.15) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """`n` noisy normalised hourly shapes (weekday 24 + weekend 24, each half summing to 1) and their
    archetype index: the benchmark's stand-in for a million customers' load shapes."""
    rng = np.random.default_rng(seed)
    weights = np.array([a.weight for a in ARCHETYPES])
    labels = rng.choice(len(ARCHETYPES), size=n, p=weights / weights.sum())
    table = profile_table(24)
    shapes = table[labels].reshape(n, 48).copy()
    solar = labels == ARCHETYPE_NAMES.index("solar_export")
    hours = np.arange(24) + 0.5
    sun = np.clip(np.sin(np.pi * (hours - 6.0) / 13.0), 0.0, None) ** 1.5
    shapes[solar] -= np.tile(sun * 3.0, 2)
    ev = labels == ARCHETYPE_NAMES.index("ev_night")
    night = ((hours >= 23) | (hours < 3)).astype(float)
    shapes[ev] += np.tile(night * 4.0, 2)
    shapes *= rng.lognormal(0.0, noise, size=shapes.shape)
    for half in (slice(0, 24), slice(24, 48)):
        total = np.abs(shapes[:, half]).sum(axis=1, keepdims=True)
        shapes[:, half] /= total
    return shapes, labels.astype(np.int64)
