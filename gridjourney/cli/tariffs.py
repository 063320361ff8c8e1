"""`gridjourney tariffs validate|bills`: check the tariffs file; one customer's bill for a year under
each tariff, from their stored reads, with the best tariff and the peak shift (gridjourney/tariffs/)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridjourney.config import get_settings
from gridjourney.tariffs.loader import TariffErrors, load_tariffs
from gridjourney.tariffs.model import TariffFile

tariffs_app = typer.Typer(
    help="Check the tariffs (tariffs.yaml) and price customers' reads.", no_args_is_help=True
)
console = Console()

FileArgument = Annotated[
    Path | None, typer.Argument(help="The tariffs file (default: GRIDJOURNEY_TARIFFS_FILE, tariffs.yaml).")
]


def _load(file: Path | None) -> tuple[Path, TariffFile]:
    path = file if file is not None else get_settings().tariffs_file
    try:
        return path, load_tariffs(path)
    except TariffErrors as errors:
        for error in errors.errors:
            typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


@tariffs_app.command()
def validate(file: FileArgument = None) -> None:
    """Check a tariffs file: YAML, fields, tiers, seasons, hours and periods.

    Every problem is printed as file:line:column: message (hint: ...). Exit status 1 on any error.
    """
    path, tariffs = _load(file)
    kinds = ", ".join(f"{name} ({t.kind})" for name, t in tariffs.tariffs.items())
    typer.echo(f"{path}: OK ({tariffs.currency}; default {tariffs.default}; {kinds})")


@tariffs_app.command()
def bills(
    customer: Annotated[str, typer.Option("--customer", help="The customer id.")],
    file: Annotated[
        Path | None, typer.Option("--file", help="The tariffs file (default: the setting).")
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of", formats=["%Y-%m-%d"], help="The year ends on this day. Default: latest read."
        ),
    ] = None,
) -> None:
    """A customer's bill for a year under each tariff, from their own reads, and the best one."""
    import asyncio

    from gridjourney.activities.context import load_customer
    from gridjourney.db.engine import create_engine
    from gridjourney.devstack import resolve_database_url
    from gridjourney.scoring.customer_scores import latest_read_day
    from gridjourney.tariffs.bills import annual_bills
    from gridjourney.tariffs.coaching import coach
    from gridjourney.tariffs.queries import stored_usage
    from gridjourney.tariffs.usage import Usage

    _, tariffs = _load(file)

    async def main() -> tuple[str | None, date, Usage] | str:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        try:
            record = await load_customer(engine, customer)
            if record is None:
                return f"no customer {customer!r}"
            last = as_of.date() if as_of else await latest_read_day(engine, [customer])
            if last is None:
                return f"customer {customer!r} has no reads"
            usage = await stored_usage(engine, {customer: record.time_zone}, last, holidays=tariffs.holidays)
        finally:
            await engine.dispose()
        current = record.attributes.get("tariff")
        return current if isinstance(current, str) else None, last, usage

    found = asyncio.run(main())
    if isinstance(found, str):
        typer.echo(f"{customer}: {found}", err=True)
        raise typer.Exit(1)
    current, last, usage = found
    priced = annual_bills(tariffs, usage)
    advice, skipped = coach(tariffs, usage, {customer: current})
    if skipped:
        typer.echo(f"{customer}: {skipped[0][1]}", err=True)
        raise typer.Exit(1)
    row = advice.iloc[0]
    days = int(priced.days_read[0])
    scaled = f"; {days} days of reads, scaled to a year" if priced.scaled[0] else ""
    table = Table(title=f"{customer}: a year of bills to {last.isoformat()} ({tariffs.currency}{scaled})")
    for column in ("tariff", "kind", "group"):
        table.add_column(column)
    table.add_column("a year", justify="right")
    for index, (name, tariff) in enumerate(tariffs.tariffs.items()):
        marks = " (current)" if name == row.current_tariff else ""
        marks += " (best)" if name == row.best_tariff else ""
        table.add_row(name + marks, tariff.kind, tariff.group, f"{priced.annual[0, index]:,.2f}")
    console.print(table)
    console.print(f"best_tariff {row.best_tariff}; best_tariff_savings {row.best_tariff_savings:,.2f} a year")
    if row.peak_shift_kwh is None:
        console.print("peak_shift_kwh none: moving all peak use would not save the goal more")
    else:
        goal = tariffs.coaching.shift_goal
        console.print(
            f"peak_shift_kwh {row.peak_shift_kwh:,.1f} a year on {row.peak_shift_tariff} saves {goal} more"
        )
