"""`gridjourney keys create|list|revoke`: API keys for integrations and operators."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import SCOPES, create_key, list_keys, revoke_key, validate_scopes
from gridjourney.config import get_settings
from gridjourney.db.engine import create_engine
from gridjourney.devstack import resolve_database_url

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _run(operation: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=1)
        try:
            return await operation(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who uses the key, e.g. billing-integration.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help=f"Repeat for several: {', '.join(SCOPES)} (admin implies all)."),
    ],
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    try:
        validate_scopes(scope)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scope") from None
    key_id, key = _run(lambda engine: create_key(engine, name, scope))
    console.print(f"created key [bold]{key_id}[/] ({name}; scopes: {', '.join(sorted(set(scope)))})")
    console.print("Store it now; it cannot be shown again:", style="yellow")
    print(key)


@keys_app.command("list")
def list_() -> None:
    """List keys (never their secrets)."""
    keys = _run(list_keys)
    table = Table(box=box.SIMPLE_HEAD)
    # The key id is what `keys revoke` takes: whole on one line at any width (80 columns included);
    # the other columns give way, a scope never split inside.
    table.add_column("key id", no_wrap=True, min_width=max((len(info.key_id) for info in keys), default=0))
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("scopes", min_width=max(len(scope) for scope in SCOPES))
    table.add_column("created")
    table.add_column("revoked")
    for info in keys:
        revoked = info.revoked_at.strftime("%Y-%m-%d %H:%M") if info.revoked_at else ""
        table.add_row(
            info.key_id, info.name, " ".join(info.scopes), info.created_at.strftime("%Y-%m-%d %H:%M"), revoked
        )
    console.print(table if keys else "no API keys yet: gridjourney keys create --name NAME --scope SCOPE")


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after gj_).")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    if not _run(lambda engine: revoke_key(engine, key_id)):
        console.print(f"no active key {key_id!r}", style="red")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")
