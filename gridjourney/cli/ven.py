"""`gridjourney ven`: the utility's OpenADR 2.0b VEN on its own, polling the VTN at
GRIDJOURNEY_VTN_URL and appending the events it receives until Ctrl-C (the embedded stack and
`gridjourney router` run it too, see stack.py)."""

from __future__ import annotations

import asyncio
import logging

import typer
from rich.console import Console

from gridjourney.cli.db import require_current_schema
from gridjourney.config import get_settings
from gridjourney.devstack import resolve_database_url
from gridjourney.logs import configure_logging
from gridjourney.privacy.keyring import KeyConfigurationError

console = Console()


def ven() -> None:
    """Run the OpenADR VEN against GRIDJOURNEY_VTN_URL until stopped (Ctrl-C): each VTN event becomes
    dr.event_scheduled / dr.event_modified / dr.event_cancelled, answered optIn (optOut when refused)."""
    from gridjourney.cli.run import install_stop_handlers
    from gridjourney.db.engine import create_engine
    from gridjourney.openadr.ven import Ven, VenConfigError

    settings = get_settings()
    if not settings.vtn_url:
        console.print(
            "[red]error:[/] no VTN to poll: set GRIDJOURNEY_VTN_URL to the VTN's OpenADR endpoint "
            "(e.g. https://vtn.example/OpenADR2/Simple/2.0b)"
        )
        raise typer.Exit(2)
    configure_logging(logging.INFO)
    # openleadr logs every message it exchanges at INFO; ours say what each event became.
    logging.getLogger("openleadr").setLevel(logging.WARNING)
    database_url = resolve_database_url(settings)
    require_current_schema(database_url)

    async def main() -> None:
        engine = create_engine(database_url)
        try:
            ven = Ven(engine, settings)
            stop = asyncio.Event()
            install_stop_handlers(stop)
            console.print(
                f"VEN {settings.ven_name} polls {ven.vtn_url} every "
                f"{ven.poll_interval.total_seconds():g}s. Press Ctrl-C to stop."
            )
            await ven.run(stop)
        finally:
            await engine.dispose()

    try:
        asyncio.run(main())
    except (VenConfigError, KeyConfigurationError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
