"""`gridjourney journeys validate|schema|publish`: check journey files, print the language's JSON
Schema (for editors), and publish versions to the database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from gridjourney.config import get_settings
from gridjourney.content.preview import preview_sms
from gridjourney.dsl.compiler import check_journey
from gridjourney.dsl.json_schema import journey_json_schema
from gridjourney.dsl.loader import JourneyError, JourneyErrors, iter_yaml_files, load_journey_with_positions
from gridjourney.dsl.schema import JourneyDefinition, SendStep

journeys_app = typer.Typer(help="Validate, inspect and publish journey definitions.", no_args_is_help=True)

PathsArg = Annotated[list[Path], typer.Argument(help="Journey files, or folders of *.yaml files.")]
TemplatesOpt = Annotated[
    Path | None, typer.Option("--templates", help="Templates folder (default: GRIDJOURNEY_TEMPLATES_DIR).")
]


def _templates_dir(option: Path | None) -> Path:
    return option if option is not None else get_settings().templates_dir


def _files(paths: list[Path]) -> list[Path]:
    files = list(iter_yaml_files(paths))
    missing = [p for p in files if not p.is_file()]
    if missing:
        for path in missing:
            typer.echo(f"{path}: no such file", err=True)
        raise typer.Exit(2)
    if not files:
        typer.echo("no journey files (*.yaml) found", err=True)
        raise typer.Exit(2)
    return files


def validate_file(path: Path, templates_dir: Path) -> tuple[JourneyDefinition | None, list[JourneyError]]:
    try:
        loaded = load_journey_with_positions(path.read_text(encoding="utf-8"), str(path))
    except JourneyErrors as errors:
        return None, errors.errors
    return loaded.definition, check_journey(loaded.definition, loaded.positions, templates_dir)


def _sms_sends(definition: JourneyDefinition) -> list[tuple[str, str]]:
    """(template, the event type its `event` is) of every send on SMS, update notices included."""
    trigger = definition.trigger[0].event
    found = [
        (step.send.template, trigger)
        for step in definition.steps
        if isinstance(step, SendStep) and "sms" in step.send.channels
    ]
    if definition.cohort is not None:
        found += [
            (notice.send.template, notice.event)
            for notice in definition.cohort.on_update
            if "sms" in notice.send.channels
        ]
    return found


def _sms_warnings(definition: JourneyDefinition, templates_dir: Path, path: Path) -> list[str]:
    warnings = []
    for template, event_type in _sms_sends(definition):
        previews = preview_sms(
            templates_dir, template, event_type, definition.id, marketing=definition.purpose == "marketing"
        )
        warnings += [f"{path}: warning: {p.template_path}: {p.warning}" for p in previews if p.warning]
    return warnings


def _summary(definition: JourneyDefinition) -> str:
    mode = "" if definition.cohort is None else f", cohort: one run per {definition.cohort.key}"
    return f"{definition.id}, {len(definition.steps)} steps, {definition.purpose}{mode}"


@journeys_app.command()
def validate(paths: PathsArg, templates: TemplatesOpt = None) -> None:
    """Check journey files: YAML, schema, step graph, expressions, event types and templates, and
    in cohort mode what a run over a whole audience can do.

    Every problem is printed as file:line:column: message (hint: ...). Exit status 1 on any error.
    """
    templates_dir = _templates_dir(templates)
    failed = False
    for path in _files(paths):
        definition, errors = validate_file(path, templates_dir)
        for error in errors:
            typer.echo(str(error), err=True)
        if errors or definition is None:
            failed = True
            continue
        for warning in _sms_warnings(definition, templates_dir, path):
            typer.echo(warning, err=True)
        typer.echo(f"{path}: OK ({_summary(definition)})")
    if failed:
        raise typer.Exit(1)


@journeys_app.command()
def schema() -> None:
    """Print the JSON Schema of journey files, both modes (point your editor's YAML support at it)."""
    typer.echo(json.dumps(journey_json_schema(), indent=2))


@journeys_app.command()
def publish(paths: PathsArg, templates: TemplatesOpt = None) -> None:
    """Validate and store each journey as a new immutable version (unchanged content: nothing stored)."""
    from gridjourney.cli.db import require_current_schema
    from gridjourney.db.engine import create_engine
    from gridjourney.devstack import resolve_database_url
    from gridjourney.dsl import registry

    templates_dir = _templates_dir(templates)
    files = _files(paths)
    # Validate everything first, so a bad file in the batch publishes nothing.
    failed = False
    for path in files:
        _, errors = validate_file(path, templates_dir)
        for error in errors:
            typer.echo(str(error), err=True)
        failed = failed or bool(errors)
    if failed:
        raise typer.Exit(1)

    database_url = resolve_database_url(get_settings())
    require_current_schema(database_url)

    async def run() -> None:
        engine = create_engine(database_url, pool_size=1)
        try:
            for path in files:
                result = await registry.publish(
                    engine, path.read_text(encoding="utf-8"), str(path), templates_dir
                )
                state = "new" if result.created else "unchanged"
                typer.echo(
                    f"{result.journey_id}  version {result.version}  {result.content_hash[:12]}  {state}"
                )
        finally:
            await engine.dispose()

    asyncio.run(run())
