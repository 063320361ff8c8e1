"""`gridjourney sends list|resolve`: the send ledger as operators see it (ids only, no contact points),
and the resolution of sends in doubt."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from gridjourney.activities import ledger
from gridjourney.activities.send_operator import NotResolvable, resolve_not_sent, resolve_sent
from gridjourney.config import get_settings
from gridjourney.db.engine import create_engine
from gridjourney.devstack import resolve_database_url
from gridjourney.events.store import EventStore

sends_app = typer.Typer(
    help="The send ledger: sends in flight or in doubt, and their resolution.", no_args_is_help=True
)
console = Console()


def _status(value: str | None) -> str | None:
    if value is not None and value not in ledger.STATUSES:
        raise typer.BadParameter(f"{value!r} is not a status; one of {', '.join(ledger.STATUSES)}")
    return value


@sends_app.command("list")
def list_command(
    status: Annotated[
        str | None,
        typer.Option(callback=_status, help=f"Only sends of this status ({', '.join(ledger.STATUSES)})."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Rows shown at most.")] = 100,
) -> None:
    """Sends by key: status, channel, purpose, attempts, lease and the note saying why one is in doubt."""

    async def main() -> list[ledger.LedgerRow]:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        try:
            async with engine.connect() as conn:
                return await ledger.list_rows(conn, status, limit=limit)
        finally:
            await engine.dispose()

    rows = asyncio.run(main())
    table = Table("key", "customer", "status", "channel", "purpose", "attempts", "lease until", "note")
    for row in rows:
        lease = f"{row.lease_expires_at:%Y-%m-%d %H:%M:%S}" if row.lease_expires_at else ""
        table.add_row(
            row.idempotency_key,
            row.customer_id,
            row.status,
            row.channel or "",
            row.purpose or "",
            str(row.attempts),
            lease,
            row.note or "",
        )
    console.print(table)
    console.print(f"{len(rows)} send(s)")


@sends_app.command("resolve")
def resolve_command(
    key: Annotated[str, typer.Argument(help="The send's idempotency key (see `gridjourney sends list`).")],
    sent: Annotated[
        bool | None,
        typer.Option(
            "--sent/--not-sent",
            help="--sent: the provider has it (recorded as sent); --not-sent: it goes out on its next retry.",
        ),
    ] = None,
    provider_message_id: Annotated[
        str | None, typer.Option(help="With --sent: the provider's message id, if known.")
    ] = None,
) -> None:
    """Resolve a send in doubt that no attempt holds any more."""
    if sent is None:
        raise typer.BadParameter("say --sent or --not-sent", param_hint="--sent/--not-sent")

    async def main() -> ledger.LedgerRow:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        try:
            store = EventStore(engine)
            if sent:
                return await resolve_sent(store, key, provider_message_id)
            return await resolve_not_sent(store, key)
        finally:
            await engine.dispose()

    try:
        row = asyncio.run(main())
    except NotResolvable as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from None
    console.print(f"{row.idempotency_key}: {row.status} ({row.note})")
