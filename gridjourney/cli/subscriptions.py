"""`gridjourney subscriptions status|retry`: the readers of the event log, how far behind they are,
and the events they set aside (dead letters)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import Settings, get_settings
from gridjourney.db.engine import create_engine
from gridjourney.devstack import resolve_database_url
from gridjourney.events import dead_letters
from gridjourney.events.poison import RetryReport
from gridjourney.events.subscription import Subscription
from gridjourney.events.subscription_status import SubscriptionStatus, subscription_statuses
from gridjourney.projections import runner as projections
from gridjourney.router import router

subscriptions_app = typer.Typer(
    help="The subscriptions that read the event log: position, lag, dead letters.", no_args_is_help=True
)
console = Console()

KNOWN = (projections.SUBSCRIPTION_NAME, router.SUBSCRIPTION_NAME)
SHOWN_DEAD_LETTERS = 20


@subscriptions_app.command("status")
def status_command() -> None:
    """Each subscription's checkpoint, lag (events and seconds) and dead letters, then the oldest
    dead letters with their errors."""

    async def main() -> tuple[list[SubscriptionStatus], list[dead_letters.DeadLetter]]:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=2)
        try:
            async with engine.connect() as conn:
                statuses = await subscription_statuses(conn, KNOWN)
                letters = [
                    letter
                    for status in statuses
                    if status.dead_letters
                    for letter in await dead_letters.list_for(conn, status.name, SHOWN_DEAD_LETTERS)
                ]
            return statuses, letters
        finally:
            await engine.dispose()

    statuses, letters = asyncio.run(main())
    table = Table("subscription", "position", "head", "lag (events)", "lag (s)", "dead letters")
    for status in statuses:
        table.add_row(
            status.name,
            str(status.position),
            str(status.head),
            str(status.lag_events),
            f"{status.lag_seconds:.0f}",
            f"[red]{status.dead_letters}[/]" if status.dead_letters else "0",
        )
    console.print(table)
    if letters:
        shown = Table("subscription", "position", "event type", "attempts", "failed at", "error")
        for letter in letters:
            shown.add_row(
                letter.subscription,
                str(letter.position),
                letter.event_type,
                str(letter.attempts),
                f"{letter.failed_at:%Y-%m-%d %H:%M:%S}",
                letter.error,
            )
        console.print(shown)
        console.print("replay them with: gridjourney subscriptions retry NAME")


@subscriptions_app.command("retry")
def retry_command(
    name: Annotated[str, typer.Argument(help=f"The subscription: {' or '.join(KNOWN)}.")],
) -> None:
    """Hand the dead letters of NAME to its handler again; delete those that now succeed. Exits 1
    while some still fail."""
    if name not in KNOWN:
        console.print(f"[red]error:[/] no subscription {name!r}; choose one of {', '.join(KNOWN)}")
        raise typer.Exit(2)
    settings = get_settings()

    async def main() -> RetryReport:
        engine = create_engine(resolve_database_url(settings), pool_size=2)
        try:
            if name == projections.SUBSCRIPTION_NAME:
                return await projections.ProjectionRunner(engine).retry_dead_letters()
            return await (await _router_subscription(engine, settings)).retry_dead_letters()
        finally:
            await engine.dispose()

    report = asyncio.run(main())
    console.print(
        f"{name}: retried {report.retried} dead letters: {report.succeeded} succeeded (deleted), "
        f"{report.failed} still failing"
    )
    if report.failed:
        raise typer.Exit(1)


async def _router_subscription(engine: AsyncEngine, settings: Settings) -> Subscription:
    """The router's subscription, with a Temporal client (routing starts and signals workflows)."""
    from gridjourney.temporal import connect, data_converter

    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    client = await connect(address, settings.temporal_namespace, data_converter(settings))
    handler = router.EventRouter(
        engine,
        client,
        task_queue=settings.task_queue,
        send_task_queue=settings.send_task_queue,
        projections_wait=settings.router_projections_wait,
    )
    return Subscription(engine, router.SUBSCRIPTION_NAME, handler.handle, wanted=router.is_routed)
