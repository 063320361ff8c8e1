"""`gridjourney ingest greenbutton FILE... --customer ID` (Green Button XML or CSV) and
`gridjourney ingest weather FILE` (outdoor temperatures, gridjourney/weather/)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated
from zoneinfo import available_timezones

import typer
from rich.console import Console
from rich.table import Table

from gridjourney.config import get_settings
from gridjourney.db.engine import create_engine
from gridjourney.devstack import resolve_database_url
from gridjourney.metering.greenbutton import GreenButtonError, ImportReport, import_greenbutton
from gridjourney.weather.importer import FORMATS, UNITS, WeatherImportReport, import_weather
from gridjourney.weather.readings import WeatherFileError

ingest_app = typer.Typer(help="Import meter reads and weather.", no_args_is_help=True)
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
    for part in report.skipped:
        console.print(f"  [yellow]skipped[/] {part.element}: {part.reason} ({part.readings:,} readings)")
    for note in report.notes:
        console.print(f"  [cyan]note[/] {note}")


@ingest_app.command("greenbutton")
def greenbutton(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="ESPI XML or CSV files.")],
    customer: Annotated[str, typer.Option("--customer", help="The customer the reads belong to.")],
    time_zone: Annotated[
        str | None,
        typer.Option("--time-zone", help="IANA zone of CSV times (default: the customer's time zone)."),
    ] = None,
    assume_uom: Annotated[
        str | None,
        typer.Option(
            "--assume-uom", help="Unit (Wh or kWh) of ESPI interval blocks that have no ReadingType."
        ),
    ] = None,
) -> None:
    """Import Green Button files. What is not electric interval energy (gas, registers, blocks with no
    unit) is skipped and listed; a file with nothing else is refused, and then nothing is stored."""

    async def main() -> int:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        failures = 0
        try:
            for path in files:
                try:
                    _print(
                        await import_greenbutton(
                            engine, path, customer, time_zone=time_zone, assume_uom=assume_uom
                        )
                    )
                except GreenButtonError as exc:
                    failures += 1
                    console.print(f"[red]refused[/] {path}: {exc} (nothing stored)", soft_wrap=True)
        finally:
            await engine.dispose()
        return failures

    if asyncio.run(main()):
        raise typer.Exit(1)


def _print_weather(report: WeatherImportReport) -> None:
    table = Table(title=f"{report.file_name} ({report.format}, {report.units})")
    for column in ("station", "days", "from", "to", "new", "changed"):
        table.add_column(column, justify="left" if column == "station" else "right")
    for s in report.stations:
        table.add_row(
            s.station_id, f"{s.days:,}", f"{s.first}", f"{s.last}", f"{s.inserted:,}", f"{s.updated:,}"
        )
    if report.stations and not report.changed:
        table.caption = "already stored: nothing changed"
    console.print(table)
    if report.missing_values or report.rejected_by_quality:
        console.print(
            f"  skipped: {report.missing_values:,} missing values, "
            f"{report.rejected_by_quality:,} failing the source's quality check"
        )
    for issue in report.issues[:20]:
        where = f"line {issue.line}: " if issue.line else ""
        console.print(f"  [yellow]{report.file_name}[/] {where}{issue.message}")
    if len(report.issues) > 20:
        console.print(f"  ... and {len(report.issues) - 20:,} more")


@ingest_app.command("weather")
def weather(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV of temperatures.")],
    station: Annotated[
        str | None,
        typer.Option("--station", help="Store under this station id (required when the file names none)."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, noaa-global-hourly, ghcn-daily or plain.")
    ] = "auto",
    units: Annotated[
        str,
        typer.Option("--units", help="auto (the header's, else the format's), C, F, K or tenths-C."),
    ] = "auto",
    time_zone: Annotated[
        str | None,
        typer.Option(
            "--time-zone",
            help="IANA zone whose days hourly readings are averaged over "
            "(default: the zone the weather_stations setting maps the station to, else UTC).",
        ),
    ] = None,
) -> None:
    """Import outdoor temperatures as daily means per station; re-importing changes nothing."""

    async def main() -> WeatherImportReport:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        try:
            return await import_weather(
                engine, file, fmt=fmt, station=station, time_zone=time_zone, units=units
            )
        finally:
            await engine.dispose()

    if fmt not in FORMATS:
        console.print(f"[red]refused[/] {file}: --format must be one of {', '.join(FORMATS)}", soft_wrap=True)
        raise typer.Exit(2)
    if units not in UNITS:
        console.print(f"[red]refused[/] {file}: --units must be one of {', '.join(UNITS)}", soft_wrap=True)
        raise typer.Exit(2)
    if time_zone is not None and time_zone not in available_timezones():
        console.print(
            f"[red]refused[/] {file}: --time-zone {time_zone!r} is not an IANA time zone", soft_wrap=True
        )
        raise typer.Exit(2)
    try:
        report = asyncio.run(main())
    except WeatherFileError as exc:
        console.print(f"[red]refused[/] {file}: {exc} (nothing stored)", soft_wrap=True)
        raise typer.Exit(1) from None
    _print_weather(report)
    if not report.stations:
        console.print(f"[red]nothing stored[/] from {file}: no day had a usable temperature", soft_wrap=True)
        raise typer.Exit(1)
