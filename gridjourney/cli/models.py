"""`gridjourney models train|list|evaluate`: models as versioned artifacts with their quality figures."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

models_app = typer.Typer(help="Train, list and evaluate the scoring models.", no_args_is_help=True)
console = Console()

DataOption = Annotated[
    Path | None, typer.Option("--data", help="Simulation folder. Default: <home>/simulation.")
]
DirOption = Annotated[Path | None, typer.Option("--dir", help="Model folder. Default: <home>/models.")]


def _folders(data: Path | None, directory: Path | None) -> tuple[Path, Path]:
    from gridjourney.config import get_settings

    home = get_settings().home
    return data or home / "simulation", directory or home / "models"


def _load(data: Path) -> Any:
    from gridjourney.scoring.dataset import from_parquet, row_groups

    try:
        total = row_groups(data)
    except FileNotFoundError:
        raise typer.BadParameter(f"no simulation in {data}: run `gridjourney simulate` first") from None
    with Progress(console=console) as bar:
        task = bar.add_task("features from reads", total=total)
        return from_parquet(data, progress=lambda: bar.advance(task))


def _figures(evaluation: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in evaluation.items():
        if key in ("calibration", "segments"):
            continue
        if isinstance(value, dict):
            rows += [(f"{key}.{k}", f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in value.items()]
        else:
            rows.append((key, f"{value:.3f}" if isinstance(value, float) else str(value)))
    return rows


def _print(name: str, version: int, evaluation: dict[str, Any]) -> None:
    table = Table(title=f"{name} v{version} (held-out / planted truth)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in _figures(evaluation):
        table.add_row(key, value)
    console.print(table)
    if "segments" in evaluation:
        console.print("  segments: " + "; ".join(evaluation["segments"]))
    if evaluation.get("calibration"):
        cal = Table(title=f"{name} calibration (deciles of the score)")
        for col in ("bin", "count", "predicted", "observed"):
            cal.add_column(col, justify="right")
        for row in evaluation["calibration"]:
            cal.add_row(
                str(row["bin"]), str(row["count"]), f"{row['predicted']:.3f}", f"{row['observed']:.3f}"
            )
        console.print(cal)


@models_app.command()
def train(
    data: DataOption = None,
    directory: DirOption = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    segments: Annotated[
        int | None, typer.Option(help="Fix the number of segments (else where the BIC flattens).")
    ] = None,
) -> None:
    """Train every model on a simulation and save each as a new version with its evaluation."""
    from gridjourney.scoring.training import MODEL_NAMES, train_all

    data_dir, model_dir = _folders(data, directory)
    dataset = _load(data_dir)
    with Progress(console=console) as bar:
        task = bar.add_task("training", total=len(MODEL_NAMES))
        started: list[str] = []

        def step(name: str) -> None:
            if started:
                bar.advance(task)
            started.append(name)
            bar.update(task, description=f"training {name}")

        saved = train_all(dataset, model_dir, seed=seed, k=segments, step=step)
        bar.advance(task)
    for artifact in saved:
        _print(artifact.name, artifact.version, artifact.meta["evaluation"])
    console.print(f"[green]OK[/] {len(saved)} models saved under {model_dir}")


@models_app.command("list")
def list_(directory: DirOption = None) -> None:
    """Saved models: name, version, training time, data hash, headline figure."""
    from gridjourney.scoring.registry import list_models

    _, model_dir = _folders(None, directory)
    table = Table(title=f"models in {model_dir}")
    for col in ("name", "version", "trained at", "features", "data hash", "headline"):
        table.add_column(col)
    for a in list_models(model_dir):
        ev = a.meta["evaluation"]
        headline = (
            f"AUC {ev['roc_auc']:.3f}"
            if "roc_auc" in ev
            else f"ARI {ev['adjusted_rand_index']:.3f}"
            if "adjusted_rand_index" in ev
            else "precision {precision:.2f} recall {recall:.2f}".format(**ev["calibrated_detector"])
            if "calibrated_detector" in ev
            else ""
        )
        table.add_row(
            a.name,
            str(a.version),
            a.meta["trained_at"],
            str(len(a.meta["features"])),
            a.meta["data_hash"],
            headline,
        )
    console.print(table)


@models_app.command()
def evaluate(
    data: DataOption = None,
    directory: DirOption = None,
    name: Annotated[list[str] | None, typer.Option(help="Model name(s); default all.")] = None,
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the figures to this CSV file.")] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            dir_okay=False,
            help="Also save the figures as one PNG: calibration curves, anomaly precision/recall, ARI.",
        ),
    ] = None,
    bill_sample: Annotated[
        Path | None,
        typer.Option(
            "--bill-sample",
            exists=True,
            help="Instead: the bill projection's mid-cycle error on this Green Button file, every such "
            "file in this folder, or the LCL homes' meters.csv.gz.",
        ),
    ] = None,
    time_zone: Annotated[
        str, typer.Option(help="Time zone of the --bill-sample and --real Green Button reads.")
    ] = "America/Los_Angeles",
    real: Annotated[
        list[Path] | None,
        typer.Option(
            "--real",
            help="Instead: plant anomalies in copies of these real reads (Green Button XML/CSV files, "
            "the LCL meters.csv.gz, or folders of them; repeat the option) and measure the detectors, "
            "beside a simulation.",
        ),
    ] = None,
    temperatures: Annotated[
        Path | None,
        typer.Option(
            "--temperatures", dir_okay=False, help="With --real: daily mean temperatures, CSV date,tmean_c."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="With --real: the seed of the positions and simulations.")] = 0,
    copies: Annotated[
        int, typer.Option(min=1, max=10, help="With --real: planted copies per meter and kind.")
    ] = 2,
    json_out: Annotated[
        Path | None, typer.Option("--json", dir_okay=False, help="With --real: also write the figures here.")
    ] = None,
) -> None:
    """Load saved models (refusing a feature-list mismatch) and evaluate them on a simulation."""
    if plot is not None and plot.suffix.lower() != ".png":
        raise typer.BadParameter(f"{plot} is not a .png file", param_hint="--plot")
    if real:
        from gridjourney.cli.real_eval import evaluate_real

        evaluate_real(real, temperatures, time_zone, seed=seed, copies=copies, json_out=json_out)
        return
    if bill_sample is not None:
        if plot is not None:
            raise typer.BadParameter("not with --bill-sample", param_hint="--plot")
        _bill_sample(bill_sample, time_zone, csv)
        return
    from gridjourney.scoring.registry import FeatureMismatch
    from gridjourney.scoring.training import MODEL_NAMES, evaluate_saved

    data_dir, model_dir = _folders(data, directory)
    dataset = _load(data_dir)
    rows = []
    evaluated: list[tuple[str, int, dict[str, Any]]] = []
    for model_name in name or list(MODEL_NAMES):
        try:
            artifact, evaluation = evaluate_saved(dataset, model_dir, model_name, version)
        except (FeatureMismatch, FileNotFoundError) as exc:
            console.print(f"[red]{model_name}[/]: {exc}")
            continue
        _print(artifact.name, artifact.version, evaluation)
        evaluated.append((artifact.name, artifact.version, evaluation))
        rows += [
            {"model": artifact.name, "version": artifact.version, "figure": k, "value": v}
            for k, v in _figures(evaluation)
        ]
    if csv is not None:
        import pandas as pd

        pd.DataFrame(rows).to_csv(csv, index=False)
        console.print(f"figures written to {csv}")
    if plot is not None and evaluated:
        from gridjourney.scoring.plots import NoFigures, plot_evaluations

        try:
            plot_evaluations(evaluated, plot)
        except NoFigures as exc:
            console.print(f"[red]--plot[/]: {exc}")
            raise typer.Exit(1) from None
        console.print(f"plot written to {plot}")
    if not rows:
        raise typer.Exit(1)


@models_app.command()
def score(
    directory: DirOption = None,
    customer: Annotated[
        list[str] | None, typer.Option("--customer", help="Customer id(s); default every customer.")
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of", formats=["%Y-%m-%d"], help="Score from the reads up to this day. Default: latest read."
        ),
    ] = None,
) -> None:
    """Write segments and propensity scores to customers (customer.updated: segment, scores.*)."""
    import asyncio

    from gridjourney.config import get_settings
    from gridjourney.db.engine import create_engine
    from gridjourney.devstack import resolve_database_url
    from gridjourney.scoring.customer_scores import ScoreReport, write_customer_scores

    _, model_dir = _folders(None, directory)

    async def main() -> ScoreReport:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        try:
            with Progress(console=console) as bar:
                task = bar.add_task("scoring customers", total=None)
                return await write_customer_scores(
                    engine,
                    model_dir,
                    customer_ids=customer,
                    as_of=as_of.date() if as_of else None,
                    progress=lambda n: bar.advance(task, n),
                )
        finally:
            await engine.dispose()

    report = asyncio.run(main())
    table = Table(title="customer scores")
    table.add_column("")
    table.add_column("", justify="right")
    for name, version in report.models.items():
        table.add_row(f"model {name}", version)
    table.add_row("reads up to", str(report.as_of or "-"))
    table.add_row("customers scored", f"{report.scored:,}")
    table.add_row("customer.updated appended", f"{report.appended:,}")
    table.add_row("already appended today", f"{report.duplicates:,}")
    table.add_row("without a score", f"{len(report.skipped):,}")
    console.print(table)
    for cid, reason in report.skipped[:20]:
        console.print(f"  [yellow]{cid}[/]: {reason}")
    if report.scored == 0:
        raise typer.Exit(1)


def _bill_sample(path: Path, time_zone: str, csv: Path | None) -> None:
    """Each file's figures, or one line saying why it has none; exit 1 when a file had none."""
    import pandas as pd

    from gridjourney.scoring.bill_sample import BillSampleError, SampleSet, evaluate_file, summary

    files = sorted(f for f in path.iterdir() if f.is_file() and _reads_file(f)) if path.is_dir() else [path]
    if not files:
        console.print(f"[red]{path}[/]: no Green Button (.xml, .csv) or LCL meters file in it")
        raise typer.Exit(1)
    sets: list[SampleSet] = []
    failed = 0
    for file in files:
        try:
            found = evaluate_file(file, time_zone=time_zone)
        except BillSampleError as exc:
            console.print(f"[red]error[/]: {exc}", soft_wrap=True)
            failed += 1
            continue
        except (OSError, ValueError) as exc:  # anything else the file's content makes a reader refuse
            console.print(f"[red]error[/]: {file}: cannot be read: {exc}".splitlines()[0], soft_wrap=True)
            failed += 1
            continue
        sets += found
    if sets:
        table = Table(title=f"bill projection on day 15 of the cycle ({path})")
        for column in ("reads", "cycles", "kWh MAPE", "naive kWh MAPE", "beats naive", "10-90 % range holds"):
            table.add_column(column, justify="left" if column == "reads" else "right")
        table.add_column("amount MAPE", justify="right")
        table.add_column("weather", justify="right")
        table.add_column("hindsight level beats naive", justify="right")
        for found_set in sets:
            f = summary(found_set.projections)
            table.add_row(
                found_set.name,
                f"{f['cycles']:.0f}",
                f"{f['mape_kwh']:.2%}",
                f"{f['naive_mape_kwh']:.2%}",
                f"{f['beats_naive']:.0%}",
                f"{f['range_coverage']:.0%}",
                f"{f['mape_amount']:.2%}",
                f"{f['weather_adjusted']:.0%} of cycles" if f["weather_adjusted"] else "none",
                f"{f['hindsight_beats_naive']:.0%} ({f['hindsight_mape_kwh']:.2%} MAPE)"
                if f["hindsight_cycles"]
                else "no reads after",
            )
        console.print(table)
    if csv is not None and sets:
        frame = pd.concat([s.projections.assign(set=s.name) for s in sets], ignore_index=True)
        frame.to_csv(csv, index=False)
        console.print(f"projections written to {csv}")
    if failed:
        raise typer.Exit(1)


def _reads_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".xml", ".csv")) or name.startswith("meters.csv")
