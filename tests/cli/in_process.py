"""`gridjourney` run in the test's process: what tests.cli.test_subscriptions.gridjourney checks, without
starting an interpreter and importing the command again (seconds each on a loaded machine). The entry
point itself (gridjourney.cli.main, a fresh process) keeps a subprocess test per command family."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner, Result

from gridjourney.cli import app
from gridjourney.config import get_settings


async def gridjourney_in_process(database_url: str, *args: str, **env: str) -> tuple[int, str]:
    """The exit status and the output (stdout and stderr, as the subprocess helper merges them). The
    command runs its own event loop (asyncio.run), so it is called from a thread."""
    environment = {"COLUMNS": "200", "GRIDJOURNEY_DATABASE_URL": database_url, **env}

    def invoke() -> Result:
        get_settings.cache_clear()  # the settings are read from `environment`, not an earlier test's
        try:
            return CliRunner().invoke(app, list(args), env=environment)
        finally:
            get_settings.cache_clear()

    result = await asyncio.to_thread(invoke)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback, which the installed command would print and exit 1 on
    return result.exit_code, result.output
