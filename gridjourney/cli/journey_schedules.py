"""`gridjourney journeys schedules [--sync]`: the published journeys that start on a schedule, their
next runs, and (with --sync) their Temporal Schedules brought in step (gridjourney/schedules/sync.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer

from gridjourney.config import get_settings
from gridjourney.dsl.schedule import next_runs_text
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.schedules.sync import ScheduleChange, scheduled_journeys


def show_schedules(*, sync: bool) -> None:
    from gridjourney.cli.db import require_current_schema
    from gridjourney.db.engine import create_engine
    from gridjourney.devstack import resolve_database_url
    from gridjourney.dsl import registry
    from gridjourney.policy.loader import PolicyErrors, policy_from_settings
    from gridjourney.schedules.run import sync_journey_schedules
    from gridjourney.temporal import connect, data_converter

    settings = get_settings()
    try:
        zone = policy_from_settings(settings).default_time_zone
    except PolicyErrors as errors:
        typer.echo(str(errors.errors[0]), err=True)
        raise typer.Exit(1) from None
    database_url = resolve_database_url(settings)
    require_current_schema(database_url)
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"

    async def main() -> tuple[list[CompiledJourney], list[ScheduleChange]]:
        engine = create_engine(database_url, pool_size=1)
        try:
            journeys = scheduled_journeys(await registry.all_latest(engine))
            if not sync:
                return journeys, []
            client = await connect(address, settings.temporal_namespace, data_converter(settings))
            return journeys, await sync_journey_schedules(engine, client, settings)
        finally:
            await engine.dispose()

    try:
        journeys, changes = asyncio.run(main())
    except RuntimeError as error:  # the SDK's error when Temporal cannot be reached
        typer.echo(f"Temporal at {address}: {error}", err=True)
        raise typer.Exit(1) from None
    now = datetime.now(UTC)
    for journey in journeys:
        trigger = journey.definition.schedule
        assert trigger is not None and trigger.schedule is not None
        runs = next_runs_text(trigger.schedule, zone, now)
        typer.echo(f"{journey.journey_id} v{journey.version}: {runs}; audience: {trigger.audience}")
    if not journeys:
        typer.echo("no published journey starts on a schedule")
    for change in changes:
        typer.echo(f"schedule {change.schedule_id}: {change.change}")
