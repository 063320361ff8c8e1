"""Scoring benchmarks, each beside a simple baseline in the same run; every section runs in a fresh
process so its peak memory (max RSS) is its own.

    .venv/bin/python -m bench.scoring [--meters 10000] [--days 90] [--customers 1000000] [--shapes 1200000]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def anomaly_scan(meters: int, days: int) -> dict[str, Any]:
    """Simulate 15-minute reads, compute daily features block by block, then scan all meter-days with the
    calibrated detector (scoring/anomaly.py) and, as the baseline, with the 50 %-for-3-days rule."""
    import pandas as pd

    from gridjourney.metering.features import daily_features
    from gridjourney.scoring import anomaly
    from gridjourney.simulate import Simulation, SimulationConfig

    sim = Simulation(SimulationConfig(customers=meters, days=days, seed=1, interval_minutes=15))
    zones = dict(zip(sim.customers["customer_id"], sim.customers["time_zone"], strict=True))
    t0 = time.perf_counter()
    reads = 0
    parts = []
    for block in sim.read_blocks():
        reads += len(block)
        parts.append(daily_features(block, time_zone=zones))
    daily = pd.concat(parts, ignore_index=True)
    t1 = time.perf_counter()
    detector = anomaly.fit_detector(daily)
    t2 = time.perf_counter()
    found = anomaly.detect(detector, daily)
    t3 = time.perf_counter()
    rule = anomaly.rule_detect(daily)
    t4 = time.perf_counter()
    meter_days = len(daily)
    return {
        "reads": reads,
        "meter_days": meter_days,
        "simulate_and_features_seconds": round(t1 - t0, 2),
        "detector_fit_seconds": round(t2 - t1, 2),
        "detector_scan_seconds": round(t3 - t2, 2),
        "detector_meter_days_per_second": round(meter_days / (t3 - t2)),
        "rule_baseline_scan_seconds": round(t4 - t3, 2),
        "rule_baseline_meter_days_per_second": round(meter_days / (t4 - t3)),
        "alerts_detector": len(found.alerts),
        "alerts_rule": len(rule.alerts),
        "peak_rss_mb": round(_rss_mb()),
    }


def propensity_scoring(customers: int) -> dict[str, Any]:
    """Train churn on a simulation, then score `customers` rows (resampled with jitter) with the churn
    model (scoring/propensity.py) and, as the baseline, with a plain logistic regression on the raw
    features."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from gridjourney.scoring import propensity
    from gridjourney.scoring.dataset import build
    from gridjourney.simulate import Simulation, SimulationConfig

    sim = Simulation(SimulationConfig(customers=2000, days=30, seed=2, interval_minutes=60))
    data = build(sim.customers, sim.anomalies(), [], sim.daily_temperatures(), sim.read_blocks(), 30)
    features, _ = propensity.customer_features(data.customers, data.daily, data.shapes)
    model, figures, _ = propensity.train_propensity("churn", features, data.customers)
    rng = np.random.default_rng(0)
    big = features.iloc[rng.integers(0, len(features), customers)].reset_index(drop=True)
    big = big * rng.normal(1.0, 0.02, big.shape)
    y = data.customers.set_index("customer_id")["churned"].reindex(features.index).astype(int)
    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features.fillna(0), y)
    t0 = time.perf_counter()
    scores = model.score(big)
    t1 = time.perf_counter()
    base = baseline.predict_proba(big.fillna(0))[:, 1]
    t2 = time.perf_counter()
    return {
        "customers": customers,
        "model_seconds": round(t1 - t0, 2),
        "model_customers_per_second": round(customers / (t1 - t0)),
        "logistic_baseline_seconds": round(t2 - t1, 2),
        "held_out_auc_model": round(figures["roc_auc"], 3),
        "mean_score": round(float(pd.Series(scores).mean()), 4),
        "mean_baseline_score": round(float(base.mean()), 4),
        "peak_rss_mb": round(_rss_mb()),
    }


def segmentation_run(shapes: int) -> dict[str, Any]:
    """The segmentation's Gaussian mixture (k=8; fitted on a sample above scoring/segmentation.py's
    FIT_SAMPLE, then every shape assigned) on `shapes` archetype load shapes, beside the baseline rule:
    segment by weekday peak hour in 3-hour bins."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from gridjourney.scoring.segmentation import fit_segments
    from gridjourney.simulate import archetype_load_shapes

    x, truth = archetype_load_shapes(shapes, seed=3)
    t0 = time.perf_counter()
    model = fit_segments(x, k=8, seed=0)
    labels = model.model.predict(np.clip(x, -0.01, None))
    t1 = time.perf_counter()
    rule = np.argmax(x[:, :24], axis=1) // 3
    t2 = time.perf_counter()
    return {
        "shapes": shapes,
        "mixture_seconds": round(t1 - t0, 2),
        "mixture_ari": round(float(adjusted_rand_score(truth, labels)), 3),
        "peak_hour_rule_seconds": round(t2 - t1, 3),
        "peak_hour_rule_ari": round(float(adjusted_rand_score(truth, rule)), 3),
        "segment_names": model.names,
        "peak_rss_mb": round(_rss_mb()),
    }


def _isolated(fn: Callable[..., dict[str, Any]], *args: int) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        started = time.perf_counter()
        result = pool.submit(fn, *args).result()
        result["wall_seconds"] = round(time.perf_counter() - started, 2)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--shapes", type=int, default=1_200_000)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
    }
    for name, fn, fargs in (
        ("segmentation", segmentation_run, (args.shapes,)),
        ("propensity_scoring", propensity_scoring, (args.customers,)),
        ("anomaly_scan", anomaly_scan, (args.meters, args.days)),
    ):
        print(f"running {name} …", flush=True)
        results[name] = _isolated(fn, *fargs)
        print(json.dumps(results[name], indent=2), flush=True)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / "scoring.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
