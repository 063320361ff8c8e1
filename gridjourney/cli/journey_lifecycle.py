"""`gridjourney journeys retire ID` / `reinstate ID`: stop a journey starting new runs, and let it again
(the API's POST /v1/journeys/{id}/retire and /reinstate; api/routes/journey_lifecycle.py says what
retired means). Registered on the `journeys` group by `register`: no Typer of its own."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from gridjourney.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

Change = Callable[["AsyncEngine"], Awaitable[bool | None]]
"""Changes the journey's state and says so; None: no such journey."""
JourneyArg = Annotated[str, typer.Argument(help="The journey's id.")]


def register(journeys_app: typer.Typer) -> None:
    journeys_app.command("retire")(retire)
    journeys_app.command("reinstate")(reinstate)


def retire(
    journey_id: JourneyArg,
    cancel_running: Annotated[
        bool,
        typer.Option("--cancel-running", help="Also cancel its runs going now (each records its exit)."),
    ] = False,
) -> None:
    """Retire a journey: it starts no new runs (events, manual starts, cohorts, its schedule) until
    reinstated, a version published meanwhile included. Runs already going carry on, unless
    --cancel-running."""
    from gridjourney.router import start_gate

    async def change(engine: AsyncEngine) -> bool | None:
        try:
            retired = await start_gate.retire_journey(engine, journey_id, _operator())
        except start_gate.GateBusy as busy:
            typer.echo(f"{journey_id}: not retired: {busy}; run the command again", err=True)
            raise typer.Exit(1) from None
        if retired is None:
            return None
        retirement, changed = retired
        how = "retired" if changed else "already retired"
        typer.echo(
            f"{journey_id}: {how} (since {retirement.retired_at.isoformat()}, by {retirement.retired_by}); "
            "no new runs start; runs already going "
            + ("are cancelled" if cancel_running else "carry on (--cancel-running cancels them)")
        )
        return changed

    _run(journey_id, change, cancel_running=cancel_running)


def reinstate(journey_id: JourneyArg) -> None:
    """Reinstate a retired journey: its latest version starts new runs again from the next event on."""
    from gridjourney.dsl import registry

    async def change(engine: AsyncEngine) -> bool | None:
        changed = await registry.reinstate(engine, journey_id)
        if changed is not None:
            typer.echo(f"{journey_id}: {'reinstated' if changed else 'already active'}; new runs start")
        return changed

    _run(journey_id, change)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment (a container without one)
        return "cli"


def _run(journey_id: str, change: Change, *, cancel_running: bool = False) -> None:
    from gridjourney.cli.db import require_current_schema
    from gridjourney.db.engine import create_engine
    from gridjourney.devstack import resolve_database_url
    from gridjourney.dsl import registry

    database_url = resolve_database_url(get_settings())
    require_current_schema(database_url)

    async def main() -> bool:
        engine = create_engine(database_url, pool_size=1)
        try:
            if await change(engine) is None:
                return False
            journey = await registry.latest(engine, journey_id)
            if (journey is not None and journey.definition.schedule is not None) or cancel_running:
                await _in_temporal(engine, journey_id, cancel_running=cancel_running)
            return True
        finally:
            await engine.dispose()

    if not asyncio.run(main()):
        typer.echo(
            f"no published journey {journey_id!r} (`gridjourney journeys publish` stores one)", err=True
        )
        raise typer.Exit(1)


async def _in_temporal(engine: AsyncEngine, journey_id: str, *, cancel_running: bool) -> None:
    """A scheduled journey's Temporal Schedule in step with its state, and with --cancel-running its
    runs going cancelled (Temporal unreachable: exit 1, the state stored; run the command again)."""
    from gridjourney.api.routes.journey_lifecycle import cancel_journey_runs
    from gridjourney.schedules.run import sync_published_schedule
    from gridjourney.temporal import connect, data_converter

    settings = get_settings()
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    try:
        client = await connect(address, settings.temporal_namespace, data_converter(settings))
        change = await sync_published_schedule(engine, client, settings, journey_id)
        if change is not None:
            typer.echo(f"schedule {change.schedule_id}: {change.change}")
        if cancel_running:
            reason = f"journey {journey_id} retired by {_operator()}"
            cancelled = await cancel_journey_runs(client, settings.task_queue, journey_id, reason)
            typer.echo(f"cancelled {len(cancelled)} run(s) going: {', '.join(cancelled) or 'none'}")
    except RuntimeError as error:  # the SDK's error when Temporal cannot be reached
        typer.echo(
            f"Temporal at {address}: {error}; the state is stored but its schedule or runs are not "
            "done: run the command again",
            err=True,
        )
        raise typer.Exit(1) from None
