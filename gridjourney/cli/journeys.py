"""`gridjourney journeys validate|schema|publish|preview|backtest`: check journey files, print the
language's JSON Schema (for editors), publish versions to the database, show every message a journey
sends, and replay a period of the event log through a journey without sending."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gridjourney.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from gridjourney.dsl.registry import TemplateChanges
from gridjourney.cli.journey_lifecycle import register as register_lifecycle
from gridjourney.content.pinning import pin_templates
from gridjourney.content.preview import (
    generated_customer,
    html_file_name,
    preview_journey,
    preview_sms,
    preview_text,
    send_uses,
)
from gridjourney.content.preview_graph import journey_mermaid
from gridjourney.content.preview_samples import customer_warnings
from gridjourney.content.template_source import NotUtf8, read_text
from gridjourney.dsl.compiler import check_journey, file_warnings
from gridjourney.dsl.declarations import DeclarationErrors
from gridjourney.dsl.json_schema import journey_json_schema
from gridjourney.dsl.loader import (
    JourneyError,
    JourneyErrors,
    iter_yaml_files,
    journey_text,
    load_journey_with_positions,
)
from gridjourney.dsl.schema import JourneyDefinition, SendStep
from gridjourney.dsl.vocabulary import CustomerAttributes, customer_attributes
from gridjourney.events.fields import clean_text_problem

journeys_app = typer.Typer(
    help="Validate, inspect, preview, backtest and publish journey definitions.", no_args_is_help=True
)
register_lifecycle(journeys_app)  # retire, reinstate: cli/journey_lifecycle.py

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
    """The file's definition and its errors: the compiler's checks, then (when those pass) whether its
    templates can be pinned to a published version (content/pinning.py)."""
    try:
        loaded = load_journey_with_positions(journey_text(path), str(path))
    except JourneyErrors as unloadable:
        return None, unloadable.errors
    found = check_journey(loaded.definition, loaded.positions, templates_dir)
    if not found:
        try:
            pin_templates(loaded, templates_dir)
        except JourneyErrors as unpinnable:
            found = unpinnable.errors
    return loaded.definition, found


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


def _next_runs(definition: JourneyDefinition) -> str | None:
    """A schedule trigger's cron, zone and next fire times (None: the journey has no schedule)."""
    if definition.schedule is None or definition.schedule.schedule is None:
        return None
    from gridjourney.dsl.schedule import next_runs_text
    from gridjourney.dsl.schedule_checks import utility_zone

    return next_runs_text(definition.schedule.schedule, utility_zone(), datetime.now(UTC))


def _summary(definition: JourneyDefinition) -> str:
    mode = "" if definition.cohort is None else f", cohort: one run per {definition.cohort.key}"
    runs = _next_runs(definition)
    if runs is not None:
        mode = f", cohort: one run per fire of {runs}"
    steps = len(definition.steps)
    return f"{definition.id}, {steps} step{'' if steps == 1 else 's'}, {definition.purpose}{mode}"


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
        for located in file_warnings(path, templates_dir):  # e.g. a locale without the template
            typer.echo(str(located), err=True)
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
    from gridjourney.schedules.run import touches_schedules

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

    async def run() -> list[str]:
        engine = create_engine(database_url, pool_size=1)
        scheduled: list[str] = []  # journeys whose Temporal Schedule a publish changes
        try:
            for path in files:
                source = journey_text(path)  # read as validated: UTF-8, no byte-order mark
                loaded = load_journey_with_positions(source, str(path))
                compiled, templates = registry.prepare_version(loaded, templates_dir)
                previous = await registry.latest(engine, compiled.journey_id)
                result = await registry.store(engine, source, compiled, templates)
                state = "new" if result.created else "unchanged"
                typer.echo(
                    f"{result.journey_id}  version {result.version}  {result.content_hash[:12]}  {state}"
                )
                if previous is not None:  # a first version's templates are all new: not listed
                    for line in _template_changes(result.templates):
                        typer.echo(f"  {line}")
                if touches_schedules(compiled, previous):
                    scheduled.append(result.journey_id)
            if scheduled:
                await _sync_published_schedules(engine, scheduled)
        finally:
            await engine.dispose()
        return scheduled

    asyncio.run(run())


def _template_changes(changes: TemplateChanges) -> list[str]:
    """How a new version's pinned templates differ from the version before it (content/pinned.py)."""
    kinds = (("changed", changes.changed), ("added", changes.added), ("removed", changes.removed))
    return [f"template {kind}: {path}" for kind, paths in kinds for path in paths]


async def _sync_published_schedules(engine: AsyncEngine, journey_ids: list[str]) -> None:
    """A published scheduled journey fires without a worker restart: its Temporal Schedule is set now
    (Temporal unreachable: a warning)."""
    from gridjourney.schedules.run import sync_published_schedule
    from gridjourney.temporal import connect, data_converter

    settings = get_settings()
    address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
    try:
        client = await connect(address, settings.temporal_namespace, data_converter(settings))
        for journey_id in journey_ids:
            change = await sync_published_schedule(engine, client, settings, journey_id)
            if change is not None:
                typer.echo(f"schedule {change.schedule_id}: {change.change}")
    except RuntimeError as error:  # the SDK's error when Temporal cannot be reached
        # Not a failure: a deployment may publish before Temporal is up (docker-compose.yml), and
        # every worker syncs the schedules when it starts.
        typer.echo(
            f"warning: Temporal at {address}: {error}; the journeys are stored, their schedules are set "
            "when a worker starts, or now by `gridjourney journeys schedules --sync`",
            err=True,
        )


def _sample_customer(
    journey_file: Path,
    option: str | None,
    customer_id: str | None,
    generated: dict[str, Any],
    declared: CustomerAttributes | None = None,
) -> dict[str, Any]:
    """--customer (JSON text or a .json file), else --customer-id from the database, else generated.
    A --customer field that is not declared is a warning (a typo would show the generated value)."""
    if option is not None:
        source = Path(option)
        try:
            text = read_text(source) if source.suffix == ".json" and source.is_file() else option
        except NotUtf8 as error:
            typer.echo(f"{journey_file}: --customer {error}", err=True)
            raise typer.Exit(2) from None
        try:
            given = json.loads(text)
        except json.JSONDecodeError as error:
            typer.echo(f"{journey_file}: --customer is not JSON: {error}", err=True)
            raise typer.Exit(2) from None
        if not isinstance(given, dict):
            typer.echo(f"{journey_file}: --customer must be a JSON object of customer fields", err=True)
            raise typer.Exit(2)
        unprintable = _unprintable(given)
        if unprintable is not None:
            typer.echo(f"{journey_file}: --customer: {unprintable}", err=True)
            raise typer.Exit(2)
        for warning in customer_warnings(given, declared):
            typer.echo(f"{journey_file}: warning: {warning}", err=True)
        return {**generated, **given}
    if customer_id is not None:
        return {**generated, **_stored_customer(journey_file, customer_id)}
    return generated


def _unprintable(value: Any, path: str = "") -> str | None:
    """Why a --customer value cannot be shown (a NUL, a lone surrogate from a `\\ud800` escape)."""
    where = f"`{path}`" if path else "the object"
    if isinstance(value, str):
        problem = clean_text_problem(value)
        return None if problem is None else f"{where} {problem}"
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            if (problem := clean_text_problem(str(key))) is not None:
                return f"a key of {where} {problem}"
            children.append((f"{path}.{key}" if path else str(key), child))
    elif isinstance(value, list):
        children = [(f"{path}[{i}]", child) for i, child in enumerate(value)]
    return next((found for path, child in children if (found := _unprintable(child, path)) is not None), None)


def _stored_customer(journey_file: Path, customer_id: str) -> dict[str, Any]:
    from gridjourney.activities.context import load_customer
    from gridjourney.db.engine import create_engine
    from gridjourney.devstack import resolve_database_url

    async def read() -> dict[str, Any] | None:
        engine = create_engine(resolve_database_url(get_settings()), pool_size=1)
        try:
            record = await load_customer(engine, customer_id)
        finally:
            await engine.dispose()
        return None if record is None else record.namespace()

    found = asyncio.run(read())
    if found is None:
        typer.echo(f"{journey_file}: no customer {customer_id!r} in the database", err=True)
        raise typer.Exit(2)
    return found


def _declared_attributes() -> CustomerAttributes | None:
    try:
        return customer_attributes()
    except DeclarationErrors:  # validation reported the file's problems already
        return None


@journeys_app.command()
def preview(
    file: Annotated[Path, typer.Argument(help="A journey file.")],
    templates: TemplatesOpt = None,
    customer: Annotated[
        str | None,
        typer.Option("--customer", help="Sample customer: JSON text or a .json file (fields of `customer`)."),
    ] = None,
    customer_id: Annotated[
        str | None, typer.Option("--customer-id", help="Sample customer: one from the database.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to save each email's HTML in (one file per message).")
    ] = None,
) -> None:
    """Render every send step on every channel in every locale with a sample customer and event, and
    print the journey's graph as Mermaid text. SMS show their encoding and segment count.

    Without --customer or --customer-id the sample customer has every attribute its templates read."""
    templates_dir = _templates_dir(templates)
    (path,) = _files([file])
    definition, errors = validate_file(path, templates_dir)
    for error in errors:
        typer.echo(str(error), err=True)
    if definition is None:
        raise typer.Exit(1)
    declared = _declared_attributes()
    generated = generated_customer(templates_dir, send_uses(definition), declared)
    sample = _sample_customer(path, customer, customer_id, generated, declared)
    previews = preview_journey(definition, templates_dir, sample)
    trigger, runs = definition.schedule, _next_runs(definition)
    if trigger is not None and runs is not None:
        typer.echo(f"== schedule: {runs}; audience: {trigger.audience}")
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            typer.echo(f"{out}: cannot create the folder: {error.strerror}", err=True)
            raise typer.Exit(2) from None
    for message in previews:
        typer.echo(preview_text(message))
        if message.html is not None and out is not None:
            saved = out / html_file_name(message)
            saved.write_text(message.html, encoding="utf-8")
            typer.echo(f"   HTML: {saved}")
        elif message.html is not None:
            typer.echo(f"   HTML: {len(message.html):,} characters (save it with --out DIR)")
    typer.echo("")
    typer.echo(journey_mermaid(definition))
    if errors or any(message.problem for message in previews):
        raise typer.Exit(1)


@journeys_app.command()
def schedules(
    sync: Annotated[
        bool, typer.Option("--sync", help="Create, update and delete the Temporal Schedules.")
    ] = False,
) -> None:
    """List the published journeys that start on a schedule, with their next runs; with --sync, bring
    their Temporal Schedules in step (the worker does at start). Reads GRIDJOURNEY_DATABASE_URL."""
    from gridjourney.cli.journey_schedules import show_schedules

    show_schedules(sync=sync)


@journeys_app.command()
def backtest(
    file: Annotated[Path, typer.Argument(help="A journey file (published or not).")],
    start: Annotated[
        str, typer.Option("--from", help="First day (YYYY-MM-DD, UTC) or an ISO 8601 time with its zone.")
    ],
    end: Annotated[str, typer.Option("--to", help="Last day, included (or an ISO 8601 time, excluded).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    templates: TemplatesOpt = None,
) -> None:
    """Replay the event log of a period through the journey without sending or starting workflows:
    per step, who reaches it, the messages per channel, template and locale, the messages held back by
    the policy and why (consent, STOP, caps, quiet hours deferrals), entries kept out by the re-entry
    rule, and the first 10 customers at each step. Reads GRIDJOURNEY_DATABASE_URL."""
    from gridjourney.backtest.period import parse_period
    from gridjourney.backtest.report import BacktestReport, report_text
    from gridjourney.backtest.run import NotReplayable, check_replayable
    from gridjourney.backtest.run import backtest as run_backtest
    from gridjourney.cli.db import require_current_schema
    from gridjourney.db.engine import create_engine
    from gridjourney.devstack import resolve_database_url
    from gridjourney.dsl import registry
    from gridjourney.policy.loader import PolicyErrors, policy_from_settings

    templates_dir = _templates_dir(templates)
    (path,) = _files([file])
    try:
        period = parse_period(start, end)
    except ValueError as error:
        typer.echo(f"{path}: --{error}", err=True)
        raise typer.Exit(2) from None
    try:
        journey = registry.prepare(journey_text(path), str(path), templates_dir)
    except JourneyErrors as errors:
        for problem in errors.errors:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    try:
        check_replayable(journey)
    except NotReplayable as error:
        typer.echo(f"{path}: {error}", err=True)
        raise typer.Exit(2) from None
    settings = get_settings()
    try:
        policy = policy_from_settings(settings)
    except PolicyErrors as errors:
        typer.echo(str(errors.errors[0]), err=True)
        raise typer.Exit(1) from None
    database_url = resolve_database_url(settings)
    require_current_schema(database_url)

    async def run() -> BacktestReport:
        engine = create_engine(database_url, pool_size=1)
        try:
            return await run_backtest(engine, journey, policy, *period, templates_dir=templates_dir)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except NotReplayable as error:
        typer.echo(f"{path}: {error}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    if report.events_in_range == 0 and not report.cohort_runs:  # a schedule fires without events
        typer.echo(f"{path}: no events in the log from {start} to {end}: nothing to replay", err=as_json)
    elif not as_json:
        typer.echo(report_text(report))
