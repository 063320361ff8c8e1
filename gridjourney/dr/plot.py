"""`gridjourney dr report --plot FILE.png`: the treated members' and the holdout's mean load over the
event window, each beside its own like-day baseline (several events: averaged by hour of the event)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gridjourney.dr.report import EventData


def _group_load(datas: Sequence[EventData], holdout: bool) -> pd.DataFrame:
    """Mean actual and baseline kW per hour since the event start."""
    frames: list[pd.DataFrame] = []
    for data in datas:
        ids = [m.customer_id for m in data.members if m.holdout is holdout]
        own = data.window[data.window["customer_id"].isin(ids)]
        offset = (
            pd.to_datetime(own["hour_start"], utc=True) - pd.Timestamp(data.event.start)
        ).dt.total_seconds()
        frames.append(own.assign(hour=(offset // 3600).astype("int64")))
    if not frames:
        return pd.DataFrame(columns=["actual_kwh", "baseline_kwh"])
    joined = pd.concat(frames, ignore_index=True)
    return joined.groupby("hour")[["actual_kwh", "baseline_kwh"]].mean()


def plot_event(datas: Sequence[EventData], path: Path) -> None:
    # Agg canvas, no pyplot: no display and no global figure state.
    figure = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for holdout, colour, label in ((False, "tab:blue", "treated"), (True, "tab:orange", "holdout")):
        load = _group_load(datas, holdout)
        if load.empty:
            continue
        axes.plot(load.index, load["actual_kwh"], marker="o", color=colour, label=f"{label}: actual")
        axes.plot(load.index, load["baseline_kwh"], linestyle="--", color=colour, label=f"{label}: baseline")
    title = datas[0].event.dr_event_id if len(datas) == 1 else f"{len(datas)} DR events"
    axes.set_title(f"{title}: mean load per member over the event window")
    axes.set_xlabel(
        f"hour of the event (0 = {datas[0].event.start:%H:%M} UTC)"
        if len(datas) == 1
        else "hour of the event"
    )
    axes.set_ylabel("kW (kWh per hour)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
