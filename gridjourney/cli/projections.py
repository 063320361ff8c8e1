"""`gridjourney projections rebuild|status`: the read tables folded from the event log."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridjourney.config import get_settings
from gridjourney.db.engine import create_engine
from gridjourney.devstack import resolve_database_url
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner, RebuildResult, rebuild, table_counts

projections_app = typer.Typer(help="Rebuild and inspect the projections.", no_args_is_help=True)
console = Console()


@projections_app.command("rebuild")
def rebuild_command(
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Events folded per read.")] = 1000,
) -> None:
    """Empty the projection tables and fold the whole event log into them again.

    Runs in one transaction: the API keeps serving the old rows until the rebuilt ones commit, and a
    running worker's projection subscription waits, then continues from where the rebuild ended.
    """

    async def main(progress: Progress) -> RebuildResult:
        task = progress.add_task("folding events", total=None)

        def report(position: int, head: int) -> None:
            progress.update(task, completed=position, total=head)

        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        try:
            return await rebuild(engine, batch_size=batch_size, on_progress=report)
        finally:
            await engine.dispose()

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        result = asyncio.run(main(progress))
    console.print(f"rebuilt from {result.events} events (up to position {result.position})")
    _print_counts(result.counts)


@projections_app.command("status")
def status_command() -> None:
    """How far the projections are behind the log, and their row counts."""

    async def main() -> tuple[int, int, dict[str, int]]:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        try:
            async with engine.connect() as conn:
                counts = await table_counts(conn)
            return await ProjectionRunner(engine).checkpoint(), await EventStore(engine).head(), counts
        finally:
            await engine.dispose()

    checkpoint, head, counts = asyncio.run(main())
    console.print(f"projections at position {checkpoint} of {head} ({head - checkpoint} events behind)")
    _print_counts(counts)


def _print_counts(counts: dict[str, int]) -> None:
    table = Table("table", "rows")
    for name, count in counts.items():
        table.add_row(name, str(count))
    console.print(table)
