"""The `gridjourney` command. Each command group lives in its own module, imported when it runs
(gridjourney/cli/lazy.py)."""

from __future__ import annotations

import atexit
import os
import sys

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from gridjourney.cli.lazy import Subcommand, lazy_group
from gridjourney.cli.settings_errors import is_settings_error, settings_error_lines, settings_source_line

# In `gridjourney --help` order. Each help line is its command's (tests/cli/test_lazy.py checks).
SUBCOMMANDS = {
    "run": Subcommand(
        "gridjourney.cli.run",
        "run",
        "Start the embedded stack (Postgres, Temporal, SMS stand-in, API, workers, router) and the demo.",
    ),
    "worker": Subcommand(
        "gridjourney.cli.run",
        "worker",
        "Run the Temporal workers against configured servers (routing is `gridjourney router`'s job).",
    ),
    "router": Subcommand(
        "gridjourney.cli.run",
        "router",
        "Run the projections and the event router against configured servers. Start two or more for "
        "availability: a Postgres advisory lock elects one to route; the others stand by and take over "
        "within seconds if it dies. It also runs the journeys' workflows (no activity), so that a journey "
        "it starts gets its first workflow task at once (eager start).",
    ),
    "api": Subcommand("gridjourney.cli.run", "api", "Serve the HTTP API against configured servers."),
    "codec-server": Subcommand(
        "gridjourney.cli.codec_server",
        "codec_server",
        "Serve /encode and /decode for the Temporal UI (admin API keys only).",
    ),
    "ven": Subcommand(
        "gridjourney.cli.ven",
        "ven",
        "Run the OpenADR VEN against GRIDJOURNEY_VTN_URL until stopped (Ctrl-C): each VTN event becomes "
        "dr.event_scheduled / dr.event_modified / dr.event_cancelled, answered optIn (optOut when refused).",
    ),
    "standins": Subcommand(
        "gridjourney.cli.standins",
        "standins",
        "Serve the provider stand-ins on the configured ports (sms_standin_port, email_standin_port, "
        "push_standin_port) until stopped. The SendGrid stand-in signs its webhook posts to "
        "public_base_url; the key to verify them with is printed at start "
        "(GRIDJOURNEY_SENDGRID_WEBHOOK_PUBLIC_KEY of the API).",
    ),
    "db": Subcommand("gridjourney.cli.db", "db_app", "Migrate the database and check its schema."),
    "journeys": Subcommand(
        "gridjourney.cli.journeys",
        "journeys_app",
        "Validate, inspect, preview, backtest and publish journey definitions.",
    ),
    "policy": Subcommand(
        "gridjourney.cli.policy", "policy_app", "Validate and inspect the compliance policy (policy.yaml)."
    ),
    "keys": Subcommand("gridjourney.cli.keys", "keys_app", "Create, list, rotate and revoke API keys."),
    "projections": Subcommand(
        "gridjourney.cli.projections", "projections_app", "Rebuild and inspect the projections."
    ),
    "subscriptions": Subcommand(
        "gridjourney.cli.subscriptions",
        "subscriptions_app",
        "The subscriptions that read the event log: position, lag, dead letters.",
    ),
    "sends": Subcommand(
        "gridjourney.cli.sends",
        "sends_app",
        "The send ledger: sends in flight or in doubt, and their resolution.",
    ),
    "privacy": Subcommand(
        "gridjourney.cli.privacy",
        "privacy_app",
        "Erasures: the Temporal parts still pending, and finishing them.",
    ),
    "bench": Subcommand(
        "gridjourney.cli.bench",
        "bench_app",
        "Run benchmarks: figures are printed and saved under bench/results/.",
    ),
    "simulate": Subcommand(
        "gridjourney.cli.simulate",
        "simulate_app",
        "Simulate a utility: customers, interval reads, planted anomalies, labels.",
    ),
    "models": Subcommand(
        "gridjourney.cli.models", "models_app", "Train, list and evaluate the scoring models."
    ),
    "ingest": Subcommand("gridjourney.cli.ingest", "ingest_app", "Import meter reads and weather."),
    "dr": Subcommand("gridjourney.cli.dr", "dr_app", "Demand response: the event performance report."),
    "tariffs": Subcommand(
        "gridjourney.cli.tariffs",
        "tariffs_app",
        "Check the tariffs (tariffs.yaml) and price customers' reads.",
    ),
}

app = typer.Typer(
    name="gridjourney",
    help="Event-sourced journey orchestration for energy utilities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=lazy_group(SUBCOMMANDS),
)


@app.callback()
def _group() -> None:
    # Typer builds a group (rather than a single command) only for an app with a callback or commands
    # of its own; the subcommands are the group class's.
    pass


def main() -> None:
    """The console script: the app, with bad settings or encryption keys answered in one line each
    (exit 2), and a database it cannot reach in one line (exit 1)."""
    try:
        _run_app()
    except SystemExit as done:
        _leave_if_temporal_was_used(done.code)
        raise


def _run_app() -> None:
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
    except Exception as error:
        from gridjourney.cli.database_errors import unreachable_database
        from gridjourney.privacy.keyring import KeyConfigurationError

        if isinstance(error, KeyConfigurationError):
            print(f"gridjourney: {error}", file=sys.stderr)
            sys.exit(2)
        reason = unreachable_database(error)
        if reason is None:
            raise
        print(f"gridjourney: cannot reach the database (GRIDJOURNEY_DATABASE_URL): {reason}", file=sys.stderr)
        sys.exit(1)


# Loaded once a Temporal client or worker has been made in this process.
TEMPORAL_NATIVE_BRIDGE = "temporalio.bridge.temporal_sdk_bridge"


def _leave_if_temporal_was_used(code: object) -> None:
    """temporalio's native runtime keeps threads that can outlive the interpreter's teardown and abort
    it ("PyGILState_Release: thread state must be current", temporalio/sdk-python#300): measured here,
    12 of 40 short client-only processes ended with SIGABRT or SIGSEGV after their work was done. A
    command that loaded it runs the exit handlers (logging, tracing, metrics), flushes its output and
    leaves without the teardown."""
    if TEMPORAL_NATIVE_BRIDGE not in sys.modules:
        return
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1, as the interpreter would
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
