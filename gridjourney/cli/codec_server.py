"""`gridjourney codec-server`: lets the Temporal UI show sealed payloads to operators with an admin key.

In the Temporal UI: settings → Codec Server → the URL of this server, with "Pass the user access
token" on; the token is an API key with the `admin` scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated

import typer
from rich.console import Console

from gridjourney.config import Settings, get_settings
from gridjourney.logs import configure_logging
from gridjourney.privacy.keyring import KeyConfigurationError, keyring_from_settings

console = Console()


async def serve_codec_server(settings: Settings, database_url: str, host: str, port: int) -> None:
    """Serve until cancelled. The database holds the API keys that authorise callers."""
    # Imported here so that other commands start without loading the web stack.
    import uvicorn

    from gridjourney.api.server import serve_until_cancelled
    from gridjourney.db.engine import create_engine
    from gridjourney.privacy.codec_http import create_codec_app

    keyring = keyring_from_settings(settings)
    engine = create_engine(database_url)
    app = create_codec_app(settings, keyring, engine)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="off"))
    try:
        await serve_until_cancelled(server)
    finally:
        await engine.dispose()


def codec_server(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: GRIDJOURNEY_CODEC_SERVER_PORT).")] = None,
) -> None:
    """Serve /encode and /decode for the Temporal UI (admin API keys only)."""
    from gridjourney.devstack import resolve_database_url

    configure_logging(logging.INFO)
    settings = get_settings()
    try:
        database_url = resolve_database_url(settings)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_codec_server(settings, database_url, host, port or settings.codec_server_port))
    except KeyConfigurationError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
