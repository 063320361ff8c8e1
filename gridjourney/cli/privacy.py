"""`gridjourney privacy pending [--retry]`: the erasures whose Temporal part (the deletion of the
customer's workflow executions) is not done yet, and finishing them now (privacy/temporal_erasures.py).
Customer ids only: an erased customer has no personal data left to show."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from temporalio.client import Client

from gridjourney.config import Settings, get_settings
from gridjourney.db.engine import create_engine
from gridjourney.devstack import resolve_database_url
from gridjourney.privacy import queries
from gridjourney.privacy.temporal_erasures import TemporalPart, retry_pending

privacy_app = typer.Typer(
    help="Erasures: the Temporal parts still pending, and finishing them.", no_args_is_help=True
)
console = Console()


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""


async def _client(settings: Settings) -> Client | None:
    """A Temporal client, or None when it cannot be reached (each attempt is then recorded failed)."""
    from gridjourney.temporal import connect, data_converter

    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    try:
        return await connect(address, settings.temporal_namespace, data_converter(settings))
    except RuntimeError:  # the SDK's error for a server it cannot reach
        return None


@privacy_app.command("pending")
def pending_command(
    retry: Annotated[
        bool, typer.Option("--retry", help="Try each one's Temporal part now (exit 1 if an attempt fails).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Erasures shown (or retried) at most.")] = 100,
) -> None:
    """Erased customers whose workflow executions in Temporal are not shown deleted yet: when erased,
    the attempts so far, the executions deleted, the last error and the next automatic attempt (the
    router's leader retries them). A part completes when a listing made 30 s after the erasure and
    after any deletion finds none of their executions left."""
    settings = get_settings()

    async def main() -> tuple[list[queries.PendingErasure], list[TemporalPart]]:
        engine = create_engine(resolve_database_url(settings), pool_size=2)
        try:
            attempts: list[TemporalPart] = []
            if retry:
                attempts = await retry_pending(engine, await _client(settings), due_only=False, limit=limit)
            async with engine.connect() as conn:
                return await queries.pending(conn, limit=limit), attempts
        finally:
            await engine.dispose()

    rows, attempts = asyncio.run(main())
    for attempt in attempts:
        if attempt.deleted is None:
            console.print(f"{attempt.customer_id}: still pending ({attempt.error})")
        elif attempt.completed:
            console.print(f"{attempt.customer_id}: completed, no workflow execution of theirs left")
        else:  # checked again once Temporal's deletions and its visibility store have caught up
            console.print(
                f"{attempt.customer_id}: {attempt.deleted} workflow execution(s) deleted, to be checked"
            )
    # One line each, never a table: an operator greps and pipes this, and a table in a narrow
    # terminal (or none, under cron) cuts the customer ids it is there to show.
    for row in rows:
        error = f"; last error: {row.last_error}" if row.last_error else ""
        console.print(
            f"{row.customer_id}: erased {_when(row.erased_at)}, {row.attempts} attempt(s), "
            f"{row.workflows_deleted} execution(s) deleted, last attempt {_when(row.last_attempt_at)}, "
            f"next {_when(row.next_attempt_at)}{error}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    console.print(f"{len(rows)} erasure(s) with the Temporal part pending")
    if any(attempt.deleted is None for attempt in attempts):
        raise typer.Exit(1)
