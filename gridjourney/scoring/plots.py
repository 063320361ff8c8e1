"""Model evaluation figures as one PNG, a panel per model kind: calibration curves of the propensity
models, precision/recall of the anomaly detectors against the rule baseline, the segmentation ARI.

Pure: the figures (as saved in meta.json's "evaluation" or returned by `evaluate_saved`) in, a PNG file
out. Drawn on matplotlib's Agg canvas, so no screen or pyplot state is involved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PANEL_ORDER = ("propensity", "anomaly", "segmentation")
DETECTORS = (
    ("calibrated_detector", "calibrated detector"),
    ("isolation_forest", "isolation forest"),  # models saved before the calibrated detector
    ("rule_baseline", "rule baseline"),
)
Evaluation = tuple[str, int, Mapping[str, Any]]  # model name, version, its evaluation figures


class NoFigures(ValueError):
    """A model has no evaluation figures that can be plotted."""


def kind_of(figures: Mapping[str, Any]) -> str | None:
    """Which panel a model's figures belong to, or None if there is nothing to plot."""
    if figures.get("calibration"):
        return "propensity"
    if any(isinstance(figures.get(key), Mapping) for key, _ in DETECTORS):
        return "anomaly"
    if isinstance(figures.get("adjusted_rand_index"), int | float):
        return "segmentation"
    return None


def plot_evaluations(evaluations: Sequence[Evaluation], path: Path, *, dpi: int = 110) -> Path:
    """Write one PNG with a panel per model kind present in `evaluations`; refuse a model without
    figures (NoFigures) before writing anything."""
    if not evaluations:
        raise NoFigures("no model evaluations to plot")
    panels: dict[str, list[Evaluation]] = {}
    for name, version, figures in evaluations:
        kind = kind_of(figures)
        if kind is None:
            raise NoFigures(
                f"model {name} v{version} has no evaluation figures to plot "
                "(calibration table, precision/recall or adjusted Rand index); "
                "retrain it with `gridjourney models train`"
            )
        panels.setdefault(kind, []).append((name, version, figures))
    kinds = [k for k in PANEL_ORDER if k in panels]
    figure = Figure(figsize=(6.4 * len(kinds), 5.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(kinds), squeeze=False)[0]
    draw = {"propensity": _calibration, "anomaly": _anomaly, "segmentation": _segmentation}
    for ax, kind in zip(axes, kinds, strict=True):
        draw[kind](ax, panels[kind])
    figure.suptitle("Model evaluation (held-out / planted truth)", fontsize=13)
    figure.savefig(path, format="png", dpi=dpi)
    return path


def _label(name: str, version: int) -> str:
    return f"{name} v{version}"


def _calibration(ax: Axes, models: list[Evaluation]) -> None:
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    for name, version, figures in models:
        rows = figures["calibration"]
        ax.plot(
            [row["predicted"] for row in rows],
            [row["observed"] for row in rows],
            marker="o",
            markersize=4,
            label=f"{_label(name, version)} ({propensity_legend(figures)})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability (mean per decile)")
    ax.set_ylabel("observed rate")
    ax.set_title("Propensity calibration")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)


def propensity_legend(figures: Mapping[str, Any]) -> str:
    """'AUC 0.677 (oracle 0.766, observable 0.726), Brier 0.221 (oracle 0.196, observable 0.203)':
    the oracle and the observable ceiling (scoring/propensity_eval.py) where the data knows them."""

    def known(key: str) -> float | None:
        value = figures.get(key)
        return float(value) if isinstance(value, int | float) and not math.isnan(value) else None

    parts = []
    for title, key in (("AUC", "roc_auc"), ("Brier", "brier")):
        value = known(key)
        text = f"{title} {value:.3f}" if value is not None else f"{title} n/a"
        references = [
            f"{label} {reference:.3f}"
            for label in ("oracle", "observable")
            if (reference := known(f"{label}_{key}")) is not None
        ]
        parts.append(text + (f" ({', '.join(references)})" if references else ""))
    return ", ".join(parts)


def _anomaly(ax: Axes, models: list[Evaluation]) -> None:
    series = [
        (f"{label}" if len(models) == 1 else f"{_label(name, version)} {label}", figures[key])
        for name, version, figures in models
        for key, label in DETECTORS
        if isinstance(figures.get(key), Mapping)
    ]
    metrics = ("precision", "recall")
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        heights = [values.get(m, math.nan) for m in metrics]
        alerts = values.get("alerts")
        if isinstance(alerts, int | float) and not math.isnan(alerts):
            label += f" ({alerts:,.0f} alerts)"
        bars = ax.bar(
            [j + (i - (len(series) - 1) / 2) * width for j in range(len(metrics))],
            [0.0 if math.isnan(h) else h for h in heights],
            width,
            label=label,
        )
        ax.bar_label(bars, labels=["n/a" if math.isnan(h) else f"{h:.2f}" for h in heights], padding=2)
    ax.set_xticks(range(len(metrics)), list(metrics))
    ax.set_ylim(0, 1)
    ax.set_ylabel("share")
    planted = next((v.get("planted") for _, v in series if v.get("planted") is not None), None)
    ax.set_title(
        "Anomaly alerts vs planted anomalies" + (f" ({planted:,.0f} planted)" if planted is not None else "")
    )
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)


def _segment_sizes(figures: Mapping[str, Any]) -> list[tuple[str, float]]:
    sizes = figures.get("segment_sizes")
    if isinstance(sizes, Mapping):
        return [(str(k), float(v)) for k, v in sizes.items()]
    names = figures.get("segments") or []
    if isinstance(sizes, Sequence) and len(sizes) == len(names):
        return [(str(n), float(s)) for n, s in zip(names, sizes, strict=True)]
    return []


def _segmentation(ax: Axes, models: list[Evaluation]) -> None:
    name, version, figures = models[-1]
    ari = float(figures["adjusted_rand_index"])
    k = figures.get("k", len(figures.get("segments") or []))
    title = f"{_label(name, version)}: ARI {ari:.3f} vs archetypes, k = {k}"
    sizes = _segment_sizes(figures)
    if sizes:
        labels = [n for n, _ in sizes][::-1]
        bars = ax.barh(labels, [s for _, s in sizes][::-1], color="tab:green")
        ax.bar_label(bars, fmt="{:,.0f}", padding=2, fontsize=8)
        ax.set_xlabel("customers")
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(title)
        return
    # No sizes saved: the ARI of each segmentation model on a 0-1 scale, and the segment names.
    labels = [_label(n, v) for n, v, _ in models]
    values = [float(f["adjusted_rand_index"]) for _, _, f in models]
    bars = ax.bar(range(len(labels)), values, width=0.6, color="tab:green")
    ax.bar_label(bars, fmt="{:.3f}", padding=2)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlim(-0.6, len(labels) + 1.6)  # the right part of the panel holds the segment names
    ax.set_ylim(0, 1)
    ax.set_ylabel("adjusted Rand index vs archetypes")
    ax.grid(axis="y", alpha=0.3)
    names = list(figures.get("segments") or [])
    if names:
        ax.text(
            0.98,
            0.97,
            f"{len(names)} segments:\n" + "\n".join(names),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "lightgrey"},
        )
    ax.set_title(title)
