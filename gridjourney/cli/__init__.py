"""The `gridjourney` command. Each command group lives in its own module and is added here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="gridjourney",
    help="Event-sourced journey orchestration for energy utilities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Command groups (one module each) are registered below.
