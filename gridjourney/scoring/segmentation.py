"""Load-shape segments: K-means on normalised 48-hour shapes, named in words from each centroid.

The number of segments is fixed or chosen by silhouette over a range, on a sample (silhouette is
quadratic in the rows). MiniBatchKMeans takes over above LARGE_ROWS.

Names stay put across retraining: a new centroid and a previous model's centroid that are each
other's nearest keep the previous name (the same habit, refitted); only segments without such a
partner are named afresh from their shape, numbered after the names already taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from gridjourney.metering.features import HOUR_COLUMNS_WD, HOUR_COLUMNS_WE
from gridjourney.scoring.registry import FeatureMismatch, load_model

FEATURES: tuple[str, ...] = (*HOUR_COLUMNS_WD, *HOUR_COLUMNS_WE)
LARGE_ROWS = 20_000
SILHOUETTE_SAMPLE = 4_000
# Export hours are clipped to a small negative value: how much a household exports says more about the
# weather and its panel than about its habits, and unclipped it drowns every other hour's distance.
EXPORT_FLOOR = -0.01


@dataclass
class SegmentModel:
    model: KMeans | MiniBatchKMeans
    names: list[str]
    k: int
    silhouettes: dict[int, float] = field(default_factory=dict)
    features: tuple[str, ...] = FEATURES

    def assign(self, shapes: pd.DataFrame) -> pd.DataFrame:
        """customer_id, segment, segment_name, distance; customers without a full shape get none, with
        the reason."""
        x, ok = _matrix(shapes)
        out = pd.DataFrame(index=shapes.index)
        out["segment"] = pd.array([pd.NA] * len(shapes), dtype="Int64")
        out["segment_name"] = None
        out["distance"] = np.nan
        out["reason"] = [None if good else "no weekday and weekend load shape yet" for good in ok]
        if ok.any():
            labels = self.model.predict(x[ok])
            dist = self.model.transform(x[ok]).min(axis=1)
            out.loc[ok, "segment"] = labels
            out.loc[ok, "segment_name"] = [self.names[i] for i in labels]
            out.loc[ok, "distance"] = dist
        out.index.name = "customer_id"
        return out.reset_index()


def _matrix(shapes: pd.DataFrame) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    x = shapes.reindex(columns=list(FEATURES)).to_numpy(dtype=np.float64)
    ok = ~np.isnan(x).any(axis=1)
    return np.clip(np.nan_to_num(x), EXPORT_FLOOR, None), ok


def _kmeans(k: int, rows: int, seed: int) -> KMeans | MiniBatchKMeans:
    if rows > LARGE_ROWS:
        return MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3)
    return KMeans(n_clusters=k, random_state=seed, n_init=4)


def fit_segments(
    shapes: pd.DataFrame | npt.NDArray[np.float64],
    *,
    k: int | None = None,
    k_range: range = range(6, 13),  # below six, silhouette lumps distinct habits together
    seed: int = 0,
    previous: SegmentModel | None = None,
) -> SegmentModel:
    """Fit the segments; `previous`: the model being replaced, whose names matching segments keep."""
    if isinstance(shapes, pd.DataFrame):
        x, ok = _matrix(shapes)
        x = x[ok]
    else:
        x = np.clip(np.asarray(shapes, dtype=np.float64), EXPORT_FLOOR, None)
    if len(x) < 2:
        raise ValueError("need at least two complete load shapes to segment")
    rng = np.random.default_rng(seed)
    silhouettes: dict[int, float] = {}
    if k is None:
        sample = x[rng.choice(len(x), size=min(len(x), SILHOUETTE_SAMPLE), replace=False)]
        for candidate in k_range:
            if candidate >= len(sample):
                break
            labels = _kmeans(candidate, len(sample), seed).fit_predict(sample)
            silhouettes[candidate] = float(silhouette_score(sample, labels))
        k = max(silhouettes, key=lambda c: silhouettes[c]) if silhouettes else min(2, len(x))
    model = _kmeans(k, len(x), seed).fit(x)
    before = None
    if previous is not None and previous.features == FEATURES:
        before = (np.asarray(previous.model.cluster_centers_, dtype=np.float64), previous.names)
    return SegmentModel(
        model=model, names=name_segments(model.cluster_centers_, before), k=k, silhouettes=silhouettes
    )


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
) -> list[str]:
    """A unique name per centroid; `previous`: (centroids, names) of the model being replaced."""
    names: list[str | None] = [None] * len(centroids)
    if previous is not None:
        for new, old in mutual_nearest(centroids, previous[0]):
            names[new] = previous[1][old]
    taken = [name for name in names if name is not None]
    for i, centroid in enumerate(centroids):
        if names[i] is not None:
            continue
        name = describe_centroid(centroid)
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
