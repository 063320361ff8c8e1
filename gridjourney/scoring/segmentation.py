"""Load-shape segments: a Gaussian mixture on a customer's habits, named in words from each segment's
mean load shape.

What tells households apart physically is more than the normalised 48-hour shape, in which a home
with electric heating, one with someone home all day and a small flat look alike: each customer is
described by
- the share of the day's use in four parts of the day (night 22-6, morning 6-11, midday 11-16,
  evening 16-22), weekdays and weekend days apart (8 values);
- the level, on a log scale: the median day's peak hour (kW) and overnight baseload (kW);
- weather sensitivity: the slope of daily kWh against degree-days (base 65 °F, heating + cooling, in
  gridjourney/metering/features.py), per kW of peak. Without temperatures it is 0 for everyone, and
  so carries no weight.
Each value is standardised. The mixture shares one covariance among its segments ("tied"): the
spread around a habit is day-to-day noise, alike for every habit, and a separate covariance per
segment lets one broad segment swallow the customers between habits. The number of segments is where
one more stops paying: the BIC of the mixture falls steeply while segments split real habits apart
and then flattens; k is the last one whose drop is at least ELBOW_SHARE of the largest drop (on a
sample of rows, for speed).

Names stay put across retraining: a new segment and a previous model's segment whose centres (in the
new model's standardised units) are each other's nearest keep the previous name (the same habit,
refitted); only segments without such a partner are named afresh from their shape, numbered after
the names already taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from gridjourney.metering.features import HOUR_COLUMNS_WD, HOUR_COLUMNS_WE
from gridjourney.scoring.registry import FeatureMismatch, load_model

SHAPE_COLUMNS: tuple[str, ...] = (*HOUR_COLUMNS_WD, *HOUR_COLUMNS_WE)
LEVEL_COLUMNS: tuple[str, ...] = ("log_peak_kw", "log_baseload_kw", "weather_sensitivity")
FEATURES: tuple[str, ...] = (*SHAPE_COLUMNS, *LEVEL_COLUMNS)
# Parts of the day, [start, end) local hours; the night wraps past midnight.
DAY_PARTS: tuple[tuple[int, int], ...] = ((22, 6), (6, 11), (11, 16), (16, 22))
SELECTION_SAMPLE = 4_000
FIT_SAMPLE = 100_000
# A typical day's busiest hour under this (kW) is a small home's whole use: a kettle and a fridge.
LOW_USE_PEAK_KW = 0.6
ELBOW_SHARE = 0.1
N_INIT = 6  # the mixture has local optima: the best of several starts
MIN_COVERAGE = 0.9  # days with less of their reads than this do not count towards the level
LEVEL_FLOOR_KW = 0.01  # a log needs a positive level: a meter that exports all night sits here
# Export hours are clipped to a small negative value: how much a household exports says more about the
# weather and its panel than about its habits, and unclipped it drowns every other hour's distance.
EXPORT_FLOOR = -0.01


def _part_hours(start: int, end: int) -> list[int]:
    return [h % 24 for h in range(start, end + (24 if end < start else 0))]


def physical_features(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rows of FEATURES (or of the 48 shape values alone: levels 0) -> day-part shares and levels."""
    x = np.asarray(x, dtype=np.float64)
    shape = np.clip(x[:, :48], EXPORT_FLOOR, None)
    parts = [
        shape[:, [half + h for h in _part_hours(*part)]].sum(axis=1) for half in (0, 24) for part in DAY_PARTS
    ]
    levels = x[:, 48:] if x.shape[1] > 48 else np.zeros((len(x), len(LEVEL_COLUMNS)))
    return np.column_stack([*parts, levels])


def segment_inputs(shapes: pd.DataFrame, daily: pd.DataFrame | None = None) -> pd.DataFrame:
    """FEATURES per customer: the load shape (gridjourney/metering/features.py load_shapes) and, from
    `daily` (daily_features), the level and weather sensitivity; without `daily` those are 0."""
    out = shapes.reindex(columns=list(SHAPE_COLUMNS)).copy()
    for column in LEVEL_COLUMNS:
        out[column] = 0.0
    if daily is None or daily.empty:
        return out
    days = daily[daily["coverage"] >= MIN_COVERAGE] if "coverage" in daily else daily
    by = days.groupby("customer_id")
    peak = by["peak_kw"].median().clip(lower=LEVEL_FLOOR_KW)
    out["log_peak_kw"] = np.log(peak).reindex(out.index)
    out["log_baseload_kw"] = np.log(by["baseload_kwh"].median().clip(lower=LEVEL_FLOOR_KW)).reindex(out.index)
    degree_days = (days["hdd"] + days["cdd"]).to_numpy(dtype=np.float64)
    kwh = days["kwh"].to_numpy(dtype=np.float64)
    frame = pd.DataFrame({"customer_id": days["customer_id"].to_numpy(), "x": degree_days, "y": kwh}).dropna()
    if len(frame):
        # Least-squares slope per customer from grouped sums (no per-customer Python loop).
        frame["xy"], frame["xx"] = frame["x"] * frame["y"], frame["x"] ** 2
        s = frame.groupby("customer_id").agg(
            n=("x", "size"), x=("x", "sum"), y=("y", "sum"), xy=("xy", "sum"), xx=("xx", "sum")
        )
        var = s["xx"] - s["x"] ** 2 / s["n"]
        slope = ((s["xy"] - s["x"] * s["y"] / s["n"]) / var.where(var > 1e-9)).fillna(0.0)
        out["weather_sensitivity"] = (slope / peak.reindex(slope.index)).reindex(out.index).fillna(0.0)
    # A customer with a shape but no whole day yet: no level, so no segment (NaN, as without a shape).
    return out


@dataclass
class SegmentModel:
    model: Pipeline  # physical_features -> StandardScaler -> GaussianMixture
    names: list[str]
    k: int
    centres: npt.NDArray[np.float64]  # per segment, the mean physical features (unscaled)
    shapes: npt.NDArray[np.float64]  # per segment, the mean 48-hour shape (what its name reads)
    bic: dict[int, float] = field(default_factory=dict)
    features: tuple[str, ...] = FEATURES

    def assign(self, inputs: pd.DataFrame) -> pd.DataFrame:
        """customer_id, segment, segment_name, distance (standardised units from the segment's centre);
        customers without a full shape or level get none, with the reason. `inputs`: segment_inputs."""
        x, ok = _matrix(inputs)
        out = pd.DataFrame(index=inputs.index)
        out["segment"] = pd.array([pd.NA] * len(inputs), dtype="Int64")
        out["segment_name"] = None
        out["distance"] = np.nan
        out["reason"] = [None if good else "no weekday and weekend load shape yet" for good in ok]
        if ok.any():
            labels = self.model.predict(x[ok])
            scaled = self.model[:-1].transform(x[ok])
            centres = self.model[-1].means_[labels]
            out.loc[ok, "segment"] = labels
            out.loc[ok, "segment_name"] = [self.names[i] for i in labels]
            out.loc[ok, "distance"] = np.linalg.norm(scaled - centres, axis=1)
        out.index.name = "customer_id"
        return out.reset_index()


def _matrix(inputs: pd.DataFrame) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    x = inputs.reindex(columns=list(FEATURES)).to_numpy(dtype=np.float64)
    ok = ~np.isnan(x[:, : len(SHAPE_COLUMNS)]).any(axis=1)
    return np.nan_to_num(x), ok


def _pipeline(k: int, seed: int) -> Pipeline:
    return Pipeline(
        [
            ("physical", FunctionTransformer(physical_features)),
            ("scale", StandardScaler()),
            (
                "mixture",
                GaussianMixture(k, covariance_type="tied", n_init=N_INIT, random_state=seed, max_iter=300),
            ),
        ]
    )


def choose_k(x: npt.NDArray[np.float64], k_range: range, seed: int) -> tuple[int, dict[int, float]]:
    """The elbow of the BIC over `k_range` (see the module docstring) and the BIC of each k."""
    bic: dict[int, float] = {}
    for candidate in k_range:
        if candidate >= len(x):
            break
        pipeline = _pipeline(candidate, seed).fit(x)
        bic[candidate] = float(pipeline[-1].bic(pipeline[:-1].transform(x)))
    ks = sorted(bic)
    if len(ks) < 2:
        return (ks[0] if ks else 1), bic
    drops = {b: bic[a] - bic[b] for a, b in pairwise(ks)}
    largest = max(drops.values())
    chosen = ks[0]
    for candidate in ks[1:]:
        if drops[candidate] < ELBOW_SHARE * largest:
            break
        chosen = candidate
    return chosen, bic


def fit_segments(
    shapes: pd.DataFrame | npt.NDArray[np.float64],
    daily: pd.DataFrame | None = None,
    *,
    k: int | None = None,
    k_range: range = range(2, 15),
    seed: int = 0,
    previous: SegmentModel | None = None,
) -> SegmentModel:
    """Fit the segments on load shapes (and `daily` features for the level; see segment_inputs), or on
    a matrix of 48 shape values; `previous`: the model being replaced, whose matching segments keep
    their names."""
    if isinstance(shapes, pd.DataFrame):
        x, ok = _matrix(segment_inputs(shapes, daily))
        x = x[ok]
    else:
        x = np.asarray(shapes, dtype=np.float64)
    if len(x) < 2:
        raise ValueError("need at least two complete load shapes to segment")
    rng = np.random.default_rng(seed)
    bic: dict[int, float] = {}
    if k is None:
        sample = (
            x
            if len(x) <= SELECTION_SAMPLE
            else x[np.sort(rng.choice(len(x), SELECTION_SAMPLE, replace=False))]
        )
        k, bic = choose_k(sample, k_range, seed)
    # A mixture's parameters settle long before a million rows: above FIT_SAMPLE it is fitted on a
    # sample and every row is then assigned.
    fit_rows = x if len(x) <= FIT_SAMPLE else x[np.sort(rng.choice(len(x), FIT_SAMPLE, replace=False))]
    model = _pipeline(k, seed).fit(fit_rows)
    labels = model.predict(x)
    physical = physical_features(x)
    clipped = np.clip(x[:, :48], EXPORT_FLOOR, None)
    # A component no customer ends up in keeps the overall mean (it is named, never assigned).
    centres = np.stack(
        [
            physical[labels == i].mean(axis=0) if (labels == i).any() else physical.mean(axis=0)
            for i in range(k)
        ]
    )
    shapes48 = np.stack(
        [clipped[labels == i].mean(axis=0) if (labels == i).any() else clipped.mean(axis=0) for i in range(k)]
    )
    before = None
    if previous is not None and previous.features == FEATURES:
        scale = model[1]
        before = (np.asarray(scale.transform(previous.centres), dtype=np.float64), previous.names)
    positions = np.asarray(model[1].transform(centres), dtype=np.float64)
    peaks = np.exp(centres[:, 2 * len(DAY_PARTS)]) if daily is not None else None
    names = name_segments(shapes48, before, positions, peaks)
    return SegmentModel(model=model, names=names, k=k, centres=centres, shapes=shapes48, bic=bic)


def _clock(hour: int) -> str:
    return "midnight" if hour == 0 else "noon" if hour == 12 else f"{hour % 12} {'am' if hour < 12 else 'pm'}"


def describe_centroid(centroid: npt.NDArray[np.float64]) -> str:
    """A name a marketer understands, from a 48-value centroid (weekday 24, weekend 24)."""
    wd, we = centroid[:24], centroid[24:]
    day = (wd * 5 + we * 2) / 7
    if day[10:16].min() < 0:
        return "Solar export at midday"
    peak = int(np.argmax(day))
    load_factor = float(day.mean() / day.max()) if day.max() > 0 else 0.0
    night = float(day[[23, 0, 1, 2, 3, 4]].sum() / max(np.abs(day).sum(), 1e-9))
    weekday_day = float(wd[8:18].sum())
    weekend_day = float(we[8:18].sum())
    if weekday_day > 0.6 and weekday_day > 1.3 * weekend_day:
        return "Business hours, weekdays"
    if night > 0.4 and (peak >= 22 or peak <= 4):
        if load_factor < 0.5 and day[[0, 1, 2]].mean() > 2.0 * day[[19, 20]].mean():
            return f"Overnight charging (EV), peak {_clock(peak)}"
        return f"Night owl, peak {_clock(peak)}"
    if load_factor > 0.7:
        return "Flat, steady all day"
    if 16 <= peak <= 21:
        return f"Evening peak at {_clock(peak)}" + (", sharp" if load_factor < 0.45 else "")
    if 9 <= peak <= 15:
        return f"Home all day, midday peak {_clock(peak)}"
    return f"Peak at {_clock(peak)}"


def name_segments(
    centroids: npt.NDArray[np.float64],
    previous: tuple[npt.NDArray[np.float64], list[str]] | None = None,
    positions: npt.NDArray[np.float64] | None = None,
    peak_kw: npt.NDArray[np.float64] | None = None,
) -> list[str]:
    """A unique name per centroid (48-hour shape); `previous`: (positions, names) of the model being
    replaced, matched against `positions` (the new segments' centres in the same units; by default
    the centroids themselves); `peak_kw`: each segment's typical peak, to tell a small home's use."""
    names: list[str | None] = [None] * len(centroids)
    if previous is not None:
        here = centroids if positions is None else positions
        for new, old in mutual_nearest(here, previous[0]):
            names[new] = previous[1][old]
    taken = [name for name in names if name is not None]
    for i, centroid in enumerate(centroids):
        if names[i] is not None:
            continue
        name = describe_centroid(centroid)
        if peak_kw is not None and peak_kw[i] < LOW_USE_PEAK_KW:
            name = f"Low use, {name[0].lower()}{name[1:]}"
        # Two segments can read the same: number the repeats so names stay unique.
        count = sum(1 for existing in taken if existing == name or existing.startswith(name + " ("))
        fresh = name if count == 0 else f"{name} ({count + 1})"
        names[i] = fresh
        taken.append(fresh)
    return [str(name) for name in names]


def mutual_nearest(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """Pairs (i, j) where b[j] is a[i]'s nearest row and a[i] is b[j]'s."""
    distances = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    nearest_b, nearest_a = distances.argmin(axis=1), distances.argmin(axis=0)
    return [(i, int(j)) for i, j in enumerate(nearest_b) if nearest_a[j] == i]


def previous_model(directory: Path) -> SegmentModel | None:
    """The latest saved segmentation in `directory` (its names are kept on retraining), if any."""
    try:
        model, _ = load_model(directory, "segmentation", features=FEATURES)
    except (FileNotFoundError, FeatureMismatch):
        return None
    return model if isinstance(model, SegmentModel) else None


def adjusted_rand(truth: pd.Series, assigned: pd.Series) -> float:
    """ARI between planted archetypes and assigned segments over the customers present in both."""
    joined = pd.concat([truth.rename("truth"), assigned.rename("segment")], axis=1, join="inner").dropna()
    return float(adjusted_rand_score(joined["truth"], joined["segment"]))
