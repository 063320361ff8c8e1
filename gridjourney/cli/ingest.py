"""`gridjourney ingest greenbutton FILE... --customer ID`: import Green Button files (XML or CSV)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridjourney.config import get_settings
from gridjourney.db.engine import create_engine
from gridjourney.devstack import resolve_database_url
from gridjourney.metering.greenbutton import GreenButtonError, ImportReport, import_greenbutton

ingest_app = typer.Typer(help="Import meter reads.", no_args_is_help=True)
console = Console()


def _print(report: ImportReport) -> None:
    table = Table(title=f"{report.file_name or 'file'} ({report.format}) for {report.customer_id}")
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("reads in file", f"{report.reads_in_file:,}")
    table.add_row("newly stored", f"{report.reads_stored:,}")
    table.add_row("already stored", f"{report.reads_already_stored:,}")
    table.add_row("total kWh", f"{report.total_kwh:,.3f}")
    table.add_row("from", f"{report.first_read_at:%Y-%m-%d %H:%M} UTC" if report.first_read_at else "")
    table.add_row(
        "to (last start)", f"{report.last_read_at:%Y-%m-%d %H:%M} UTC" if report.last_read_at else ""
    )
    table.add_row("intervals (s)", ", ".join(map(str, report.interval_seconds)))
    table.add_row("meters", ", ".join(report.meter_ids))
    for kind, count in sorted(report.issue_counts.items()):
        table.add_row(f"flagged: {kind}", str(count))
    if report.already_imported:
        table.caption = "this file was imported before: nothing changed"
    console.print(table)
    for issue in report.issues[:20]:
        console.print(f"  [yellow]{issue.kind}[/] {issue.start:%Y-%m-%d %H:%M} {issue.detail}")


@ingest_app.command("greenbutton")
def greenbutton(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="ESPI XML or CSV files.")],
    customer: Annotated[str, typer.Option("--customer", help="The customer the reads belong to.")],
    time_zone: Annotated[
        str | None,
        typer.Option("--time-zone", help="IANA zone of CSV times (default: the customer's time zone)."),
    ] = None,
) -> None:
    """Import Green Button files; each file is stored whole or not at all."""

    async def main() -> int:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        failures = 0
        try:
            for path in files:
                try:
                    _print(await import_greenbutton(engine, path, customer, time_zone=time_zone))
                except GreenButtonError as exc:
                    failures += 1
                    console.print(f"[red]refused[/] {path}: {exc} (nothing stored)")
        finally:
            await engine.dispose()
        return failures

    if asyncio.run(main()):
        raise typer.Exit(1)
