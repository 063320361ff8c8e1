"""The `gridjourney` command. Each command group lives in its own module and is added here."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from gridjourney.cli.bench import bench_app
from gridjourney.cli.codec_server import codec_server
from gridjourney.cli.db import db_app
from gridjourney.cli.dr import dr_app
from gridjourney.cli.ingest import ingest_app
from gridjourney.cli.journeys import journeys_app
from gridjourney.cli.keys import keys_app
from gridjourney.cli.models import models_app
from gridjourney.cli.policy import policy_app
from gridjourney.cli.projections import projections_app
from gridjourney.cli.run import api, router, run, worker
from gridjourney.cli.sends import sends_app
from gridjourney.cli.settings_errors import is_settings_error, settings_error_lines, settings_source_line
from gridjourney.cli.simulate import simulate_app
from gridjourney.cli.standins import standins
from gridjourney.cli.subscriptions import subscriptions_app
from gridjourney.cli.tariffs import tariffs_app
from gridjourney.cli.ven import ven

app = typer.Typer(
    name="gridjourney",
    help="Event-sourced journey orchestration for energy utilities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

app.command()(run)
app.command()(worker)
app.command()(router)
app.command()(api)
app.command(name="codec-server")(codec_server)
app.command()(ven)
app.command()(standins)
app.add_typer(db_app, name="db")
app.add_typer(journeys_app, name="journeys")
app.add_typer(policy_app, name="policy")
app.add_typer(keys_app, name="keys")
app.add_typer(projections_app, name="projections")
app.add_typer(subscriptions_app, name="subscriptions")
app.add_typer(sends_app, name="sends")
app.add_typer(bench_app, name="bench")
app.add_typer(simulate_app, name="simulate")
app.add_typer(models_app, name="models")
app.add_typer(ingest_app, name="ingest")
app.add_typer(dr_app, name="dr")
app.add_typer(tariffs_app, name="tariffs")


def main() -> None:
    """The console script: the app, with bad settings answered in one line each (exit 2)."""
    try:
        app()
    except ValidationError as error:
        if not is_settings_error(error):
            raise
        for line in settings_error_lines(error):
            print(f"gridjourney: {line}", file=sys.stderr)
        sys.exit(2)
    except SettingsError as error:
        print(f"gridjourney: {settings_source_line(error)}", file=sys.stderr)
        sys.exit(2)
