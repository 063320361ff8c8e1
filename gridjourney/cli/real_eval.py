"""`gridjourney models evaluate --real`: the anomaly detectors on planted real reads, beside a
simulation measured the same way (gridjourney/scoring/real_eval.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

FIGURES = ("planted", "recall", "precision", "median_days_to_alert", "correct_type")
CLEAN_FIGURES = ("meter_months", "false_alerts", "false_alerts_per_meter_month", "real_no_use_alerts")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def _table(columns: dict[str, dict[str, Any]]) -> Table:
    from gridjourney.scoring.real_eval_plant import KINDS

    table = Table(title="anomaly detection on planted anomalies (trained on simulation only)")
    table.add_column("kind")
    table.add_column("figure")
    for name in columns:
        table.add_column(name, justify="right")
    for kind in KINDS:
        for figure in FIGURES:
            table.add_row(kind.name, figure, *(_cell(c[kind.name][figure]) for c in columns.values()))
        table.add_section()
    for figure in CLEAN_FIGURES:
        table.add_row("clean series", figure, *(_cell(c["clean"][figure]) for c in columns.values()))
    return table


def _groups(sources: dict[str, str]) -> dict[str, list[str]]:
    """A file of several meters (the LCL homes) in a tuning and a held-out half; other files alone."""
    from gridjourney.scoring.real_eval import halves

    by_file: dict[str, list[str]] = {}
    for meter, source in sorted(sources.items()):
        by_file.setdefault(source, []).append(meter)
    if len(by_file) == 1 and len(next(iter(by_file.values()))) < 4:
        return {}
    groups: dict[str, list[str]] = {}
    for source, meters in by_file.items():
        name = Path(source).name
        if len(meters) >= 4:
            groups |= {f"{name} {half}": part for half, part in halves(meters).items()}
        else:
            groups[name] = meters
    return groups


def evaluate_real(
    paths: list[Path],
    temperatures: Path | None,
    time_zone: str,
    *,
    seed: int,
    copies: int,
    json_out: Path | None,
) -> None:
    from gridjourney.scoring.real_eval import (
        SIDE_BY_SIDE_SIMULATION,
        TRAINING_SIMULATION,
        Population,
        run_protocol,
        simulated_population,
        train_on_simulation,
        training_seeds,
    )
    from gridjourney.scoring.real_eval_data import RealDataError, load_real, load_temperatures

    started = time.monotonic()
    try:
        real = load_real(paths, time_zone=time_zone)
        temps = load_temperatures(temperatures) if temperatures is not None else None
    except RealDataError as error:
        err_console.print(f"error: {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if temps is None:
        console.print("no --temperatures: the detectors use their weather-free form on the real reads")
    console.print(f"{len(real.time_zones)} real series, {len(real.reads):,} reads; training on simulation")
    detector = train_on_simulation(seed)

    def step(name: str) -> None:
        console.print(f"  {name} ({time.monotonic() - started:.0f} s)", highlight=False)

    console.print("simulation (the protocol on simulated homes)")
    simulated = run_protocol(detector, simulated_population(seed), seed=seed, copies=copies, progress=step)
    console.print("real reads")
    groups = _groups(real.sources)
    measured = run_protocol(
        detector,
        Population(real.reads, real.time_zones, temps),
        seed=seed,
        copies=copies,
        groups=groups,
        progress=step,
    )
    columns = {"simulation": simulated["all"], "real": measured["all"]}
    columns |= {name.replace("_", " "): measured[name] for name in groups}
    console.print(_table(columns))
    weather = (
        "with a weather model" if measured["weather_model"] else "weather-free (no meter follows the weather)"
    )
    if temps is None:
        weather = "weather-free (no temperatures given)"
    elapsed = time.monotonic() - started
    console.print(f"real reads scored {weather}; {elapsed:.0f} s in all", highlight=False)
    if json_out is not None:
        payload = {
            "command": {"paths": [str(p) for p in paths], "seed": seed, "copies": copies,
                        "temperatures": str(temperatures) if temperatures else None},
            "detector": {"multipliers": detector.multipliers, "quantiles": detector.quantiles,
                         "training_simulation": TRAINING_SIMULATION,
                         "training_seeds": training_seeds(seed)},
            "simulation": {"config": SIDE_BY_SIDE_SIMULATION, **simulated},
            "real": {"sources": sorted(set(real.sources.values())), **measured},
            "seconds": round(elapsed, 1),
        }  # fmt: skip
        json_out.write_text(json.dumps(payload, indent=2, default=str))
        console.print(f"figures written to {json_out}")
