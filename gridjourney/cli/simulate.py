"""`gridjourney simulate`: a seeded synthetic utility with known ground truth."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

simulate_app = typer.Typer(help="Simulate a utility: customers, interval reads, planted anomalies, labels.")
console = Console()


@simulate_app.callback(invoke_without_command=True)
def simulate(
    customers: Annotated[int, typer.Option(min=1, help="Number of customers.")] = 1000,
    days: Annotated[int, typer.Option(min=1, help="Days of reads.")] = 90,
    seed: Annotated[int, typer.Option(help="Same seed, same utility.")] = 42,
    interval: Annotated[int, typer.Option(help="Minutes per read: 15, 30 or 60.")] = 15,
    start: Annotated[str, typer.Option(help="First local day, YYYY-MM-DD.")] = "2024-05-01",
    anomaly_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share with a planted anomaly.")
    ] = 0.2,
    parquet: Annotated[
        Path | None, typer.Option(help="Folder for Parquet output. Default: <home>/simulation.")
    ] = None,
    database: Annotated[
        bool, typer.Option("--database/--no-database", help="Write events and reads.")
    ] = True,
) -> None:
    """Customers become customer.created/consent.changed events, reads go to meter_reads by COPY, and
    ground truth (archetypes, anomalies, propensity labels) and the reads go to Parquet."""
    from gridjourney.config import get_settings
    from gridjourney.simulate import Simulation, SimulationConfig
    from gridjourney.simulate.output import write_simulation

    settings = get_settings()
    config = SimulationConfig(
        customers=customers,
        days=days,
        seed=seed,
        interval_minutes=interval,
        start=date.fromisoformat(start),
        anomaly_rate=anomaly_rate,
    )
    try:
        sim = Simulation(config)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    folder = parquet or settings.home / "simulation"
    per_day = 24 * 60 // interval
    console.print(
        f"simulating {customers:,} customers x {days} days x {per_day} reads/day "
        f"= {customers * days * per_day:,} reads (seed {seed})"
    )

    async def main() -> int:
        engine = None
        if database:
            from gridjourney.db.engine import create_engine
            from gridjourney.devstack import resolve_database_url

            engine = create_engine(resolve_database_url(settings))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=console) as bar:
                tasks = {
                    "reads": bar.add_task("reads (blocks)", total=sim.blocks),
                }
                if database:
                    tasks["events"] = bar.add_task("customer events", total=customers * 5)
                return await write_simulation(
                    sim,
                    parquet_dir=folder,
                    engine=engine,
                    progress=lambda stage, done: bar.advance(tasks[stage], done),
                )
        finally:
            if engine is not None:
                await engine.dispose()

    total = asyncio.run(main())
    planted = sim.anomalies()
    console.print(f"[green]OK[/] {total:,} reads; ground truth and reads in {folder}")
    console.print(f"  archetypes: {sim.customers['archetype'].value_counts().to_dict()}")
    console.print(f"  planted anomalies: {planted['anomaly_type'].value_counts().to_dict()}")
    console.print(f"  DR event days: {', '.join(d.isoformat() for d in sim.dr_event_dates())}")
