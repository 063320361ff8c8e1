"""`models evaluate --plot`: the saved evaluation figures as one PNG, a panel per model kind."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from gridjourney.scoring.plots import NoFigures, kind_of, plot_evaluations
from gridjourney.scoring.registry import list_models, save_model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_PNG_BYTES = 10_000  # a blank canvas of this size compresses to a few kB; curves, bars and text do not

CALIBRATION = [
    {"bin": b, "count": 30, "predicted": 0.05 + 0.09 * b, "observed": 0.04 + 0.1 * b} for b in range(10)
]
FIGURES: dict[str, dict[str, Any]] = {
    "churn": {"roc_auc": 0.61, "brier": 0.1, "base_rate": 0.11, "rows": 299.0, "calibration": CALIBRATION},
    "dr_enrolment": {"roc_auc": 0.66, "brier": 0.23, "base_rate": 0.45, "calibration": CALIBRATION[::2]},
    "anomaly": {
        "isolation_forest": {"alerts": 240.0, "planted": 179.0, "precision": 0.33, "recall": 0.30},
        "rule_baseline": {"alerts": 329.0, "planted": 179.0, "precision": 0.23, "recall": float("nan")},
        "bill_projection_mid_cycle_mape": 0.076,
    },
    "segmentation": {"k": 3, "adjusted_rand_index": 0.69, "segments": ["Solar", "Evening peak", "Flat"]},
}


def _saved(directory: Path, figures: dict[str, dict[str, Any]]) -> list[tuple[str, int, dict[str, Any]]]:
    """Save each figures dict as a model's meta.json and read them back, as `models evaluate` sees them."""
    for name, evaluation in figures.items():
        save_model(
            directory, name, object(), features=("x",), parameters={}, data_digest="0", evaluation=evaluation
        )
    return [(a.name, a.version, a.meta["evaluation"]) for a in list_models(directory)]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_writes_a_png_with_a_panel_per_kind(tmp_path: Path) -> None:
    evaluations = _saved(tmp_path / "models", FIGURES)
    assert {kind_of(f) for _, _, f in evaluations} == {"propensity", "anomaly", "segmentation"}
    out = plot_evaluations(evaluations, tmp_path / "models.png")
    assert out == tmp_path / "models.png"
    assert out.stat().st_size > MIN_PNG_BYTES
    width, height = _png_size(out)
    # One panel (calibration only) is about a third as wide as three panels.
    single = plot_evaluations([e for e in evaluations if e[0] == "churn"], tmp_path / "one.png")
    one_width, one_height = _png_size(single)
    assert one_height == height
    assert width > 2.5 * one_width
    assert single.stat().st_size > MIN_PNG_BYTES


def test_segment_sizes_are_drawn_when_saved(tmp_path: Path) -> None:
    segmentation = {
        **FIGURES["segmentation"],
        "segment_sizes": {"Solar": 120, "Evening peak": 400, "Flat": 80},
    }
    out = plot_evaluations([("segmentation", 2, segmentation)], tmp_path / "seg.png")
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert out.stat().st_size > MIN_PNG_BYTES


def test_a_model_without_figures_is_refused(tmp_path: Path) -> None:
    evaluations = _saved(tmp_path / "models", {**FIGURES, "dr_response": {}})
    target = tmp_path / "models.png"
    with pytest.raises(NoFigures, match=r"model dr_response v1 has no evaluation figures to plot"):
        plot_evaluations(evaluations, target)
    assert not target.exists()
    # Figures without anything plottable (no calibration, precision/recall or ARI) are refused too.
    with pytest.raises(NoFigures, match=r"churn v3 has no evaluation figures"):
        plot_evaluations([("churn", 3, {"roc_auc": 0.6, "calibration": []})], target)
    with pytest.raises(NoFigures, match="no model evaluations"):
        plot_evaluations([], target)
    assert not target.exists()
