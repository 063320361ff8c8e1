"""`gridjourney db upgrade|status`: migrate the configured database and tell whether it is current.

The configured database (GRIDJOURNEY_DATABASE_URL) is migrated only here, by an operator or a one-shot
deployment step (docker-compose.yml's `migrate`); `gridjourney api` and `gridjourney worker` refuse to
start on a schema that is not current (`require_current_schema`). Unset, the embedded Postgres is used.
"""

from __future__ import annotations

import typer

from gridjourney.config import Settings, get_settings
from gridjourney.db.migrate import SchemaNotCurrent, check_current, current_revision, head_revision, upgrade

db_app = typer.Typer(help="Migrate the database and check its schema.", no_args_is_help=True)

# The exit status of a command that refuses to run on this schema (as for other configuration errors).
SCHEMA_EXIT_CODE = 2


def database_url(settings: Settings) -> str:
    """The configured database, or the embedded one (started on demand; not migrated here)."""
    if settings.database_url:
        return settings.database_url
    from gridjourney.devstack import embedded_database_url

    return embedded_database_url(settings.home)


def require_current_schema(url: str) -> None:
    """Exit with one line naming `gridjourney db upgrade` unless the schema is the one this code needs."""
    try:
        check_current(url)
    except SchemaNotCurrent as problem:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(SCHEMA_EXIT_CODE) from None


@db_app.command("upgrade")
def upgrade_command() -> None:
    """Migrate the database (GRIDJOURNEY_DATABASE_URL; unset: the embedded one) to this release's schema."""
    url = database_url(get_settings())
    before = current_revision(url)
    upgrade(url)
    head = head_revision()
    if before == head:
        typer.echo(f"database schema already at {head}; nothing to do")
    else:
        typer.echo(f"database schema migrated from {before or 'empty'} to {head}")


@db_app.command("status")
def status_command() -> None:
    """Print the database's schema revision and this release's; exit 2 if they differ."""
    url = database_url(get_settings())
    typer.echo(f"database: {current_revision(url) or 'not migrated'}   this release: {head_revision()}")
    require_current_schema(url)
