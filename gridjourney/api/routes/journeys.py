"""Journeys: list, read with versions, publish from YAML, start an instance by hand, list instances."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response, status
from pydantic import BaseModel, Field

from gridjourney.api.auth import Principal
from gridjourney.api.deps import (
    EngineDep,
    JourneysReader,
    JourneysWriter,
    SettingsDep,
    StoreDep,
    TemporalClientProvider,
    TemporalDep,
    read_limited_body,
)
from gridjourney.api.manual_entry import require_active, require_per_customer, trigger_payload
from gridjourney.api.pagination import Page, PageQuery, decode_cursor, decode_time_cursor
from gridjourney.api.problems import (
    RETRY_AFTER_SECONDS,
    ApiProblem,
    FieldError,
    customer_erased,
    invalid,
    not_found,
    problem_responses,
)
from gridjourney.api.safety import require_admin_for_safety, require_admin_if_ever_safety
from gridjourney.config import Settings
from gridjourney.content.template_source import NotUtf8, decode_text
from gridjourney.dsl import registry
from gridjourney.dsl.loader import JourneyErrors, load_journey_with_positions
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.entry.enter import enter_journey
from gridjourney.privacy.erasure import erased_at
from gridjourney.projections import queries
from gridjourney.router import start_gate
from gridjourney.schedules.run import sync_published_schedule, touches_schedules
from gridjourney.workflows.contracts import EventRef

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
MANUAL_ENTRY_TYPE = "api.manual_entry"
# uuid5 namespace of synthetic trigger ids: one request id always names the same trigger.
MANUAL_ENTRY_NAMESPACE = uuid.UUID("6f1d2c4e-8b7a-4e59-9c3d-1a2b3c4d5e6f")

JOURNEY_YAML_EXAMPLE = """\
id: bill_watch
name: Bill watch
purpose: informational
trigger:
  event: bill.projection_updated
  when: "event.projected_amount > 1.3 * event.typical_amount and event.days_left >= 5"
entry: {reentry: once_per_window, window: 30d, holdout: 0.05}
exit_on: [bill.issued]
steps:
  - id: alert
    send: {channels: [sms, email], template: high_bill_alert}
"""


class PinnedTemplate(BaseModel):
    path: str = Field(description="In the templates folder, e.g. `sms/en/high_bill_alert.j2`.")
    sha256: str = Field(description="Of the template's text as published (UTF-8).")


class JourneyVersion(BaseModel):
    journey_id: str
    version: int
    content_hash: str
    published_at: datetime
    name: str | None
    purpose: str
    state: Literal["active", "retired"] = Field(
        "active",
        description="The journey's: `retired` starts no new runs (POST /v1/journeys/{id}/reinstate).",
    )
    retired_at: datetime | None = None
    templates: list[PinnedTemplate] | None = Field(
        None,
        description="GET /v1/journeys/{id} only: the templates this version pinned when published, "
        "which its messages are rendered from. Empty: published before templates were pinned (or "
        "without a templates folder); its messages read the templates folder.",
    )


class TemplateChanges(BaseModel):
    added: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)


class JourneyDetail(BaseModel):
    journey_id: str
    latest: JourneyVersion
    source_yaml: str = Field(description="The YAML of the latest version.")
    definition: dict[str, Any] = Field(description="The latest version's parsed definition.")
    versions: list[JourneyVersion] = Field(description="Oldest first.")


class JourneyPublished(BaseModel):
    journey_id: str
    version: int
    content_hash: str
    created: bool = Field(description="False when this exact content was already published (same version).")
    templates: TemplateChanges = Field(
        default_factory=TemplateChanges,
        description="A new version's pinned templates against the version before it (paths); a "
        "template edit alone makes a new version. Empty when nothing was stored.",
    )
    state: Literal["active", "retired"] = Field(
        "active",
        description="`retired`: the journey was retired, and this version starts no runs until it is "
        "reinstated (POST /v1/journeys/{id}/reinstate).",
    )
    schedule: Literal["created", "updated", "unchanged", "deleted"] | None = Field(
        None,
        description="For a journey with a `schedule` trigger (or one that had it): what publishing did "
        "to its Temporal Schedule. Absent: the journey has no schedule.",
    )


class StartInstance(BaseModel):
    customer_id: str = Field(max_length=100)
    payload: dict[str, Any] = Field(
        default_factory=dict, description="The synthetic trigger event's payload, as templates see `event.*`."
    )
    request_id: uuid.UUID | None = Field(
        None, description="Idempotency key: the same request_id names the same trigger (and workflow)."
    )


class InstanceStarted(BaseModel):
    instance_id: str
    journey_id: str
    version: int
    customer_id: str
    started: bool = Field(description="False when the journey's re-entry rule kept the customer out.")
    trigger_event_id: str


class InstanceRow(queries.InstanceSummary):
    pass


@router.get("", summary="Published journeys (latest versions)", responses=problem_responses(401, 403, 422))
async def list_journeys(_: JourneysReader, engine: EngineDep, page: PageQuery) -> Page[JourneyVersion]:
    limit, cursor = page
    after = str(decode_cursor(cursor, ("after",))["after"]) if cursor else ""
    # A utility has tens of journeys, not thousands: the registry lists them all, we page in memory.
    rows = [
        JourneyVersion.model_validate(info, from_attributes=True)
        for info in await registry.list_journeys(engine)
        if info.journey_id > after
    ]
    return Page[JourneyVersion].of(rows, limit, lambda last: {"after": last.journey_id})


@router.get(
    "/{journey_id}", summary="A journey with its versions", responses=problem_responses(401, 403, 404)
)
async def get_journey(journey_id: str, _: JourneysReader, engine: EngineDep) -> JourneyDetail:
    versions = await registry.list_versions(engine, journey_id)
    if not versions:
        raise not_found("journey", journey_id)
    newest = versions[-1]
    pins = await registry.version_pins(engine, journey_id)
    compiled = await registry.get(engine, journey_id, newest.version)
    source = await registry.get_source(engine, journey_id, newest.version)
    if compiled is None or source is None:  # versions are immutable; only a concurrent delete could do this
        raise not_found("journey", journey_id)
    shown = [_with_templates(v, pins.get(v.version, [])) for v in versions]
    return JourneyDetail(
        journey_id=journey_id,
        latest=shown[-1],
        source_yaml=source,
        definition=compiled.definition.model_dump(mode="json", exclude_none=True),
        versions=shown,
    )


def _with_templates(info: registry.VersionInfo, pins: list[registry.PinnedTemplate]) -> JourneyVersion:
    shown = JourneyVersion.model_validate(info, from_attributes=True)
    shown.templates = [PinnedTemplate(path=pin.path, sha256=pin.sha256) for pin in pins]
    return shown


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Validate and publish a journey (YAML body)",
    description=(
        "Send the journey file as the body with `Content-Type: application/yaml` (or `text/yaml`). "
        "It is validated (schema, step graph, expressions, templates) and stored as a new immutable "
        "version: **201**; the same content again answers **200** with the existing version. A broken "
        "file answers 422 with every error's `line`, `column` and `hint`; nothing is stored. A journey "
        "with `purpose: safety` is sent without consent: it needs the `admin` scope (else **403**), "
        "safety triggers (GRIDJOURNEY_SAFETY_EVENT_TYPES, default `outage.*`) and templates whose "
        "first line is `Purpose: safety` (else 422). A journey with a `schedule` trigger has its "
        "Temporal Schedule created or updated at once (and deleted when a new version drops the "
        "trigger); if Temporal cannot be reached the journey is stored and the answer is **503**: "
        "publish again (nothing more is stored) to set the schedule."
    ),
    responses={
        **problem_responses(400, 401, 403, 413, 415, 422, 503),
        200: {"description": "Already published; nothing stored", "model": JourneyPublished},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {
                    "schema": {"type": "string"},
                    "examples": {"journey": {"value": JOURNEY_YAML_EXAMPLE}},
                }
                for media in ("application/yaml", "text/yaml")
            },
        }
    },
)
async def publish_journey(
    request: Request,
    response: Response,
    principal: JourneysWriter,
    engine: EngineDep,
    settings: SettingsDep,
    filename: Annotated[str, Query(max_length=200, description="Named in error messages.")] = "journey.yaml",
) -> JourneyPublished:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in YAML_TYPES:
        raise ApiProblem(
            415,
            "unsupported-media-type",
            "Send YAML",
            f"got {content_type or 'no content type'}; use application/yaml",
        )
    raw = await read_limited_body(request, settings.max_event_body_bytes)
    try:
        source = decode_text(raw, filename)  # a byte-order mark is dropped, as from a file
    except NotUtf8 as exc:
        error = FieldError(field="body", reason=exc.reason, line=exc.line, column=exc.column, hint=exc.hint)
        raise invalid(f"{filename} is not UTF-8; nothing was stored", [error]) from exc
    try:
        # Loading, checking and pinning parse every template the journey sends (seconds for a big
        # one, and as long again for a re-publish that stores nothing): off the event loop, so the
        # API goes on answering meanwhile.
        compiled, templates = await asyncio.to_thread(_prepare_publish, source, filename, principal, settings)
    except JourneyErrors as exc:
        errors = [
            FieldError(field="body", reason=e.message, line=e.line, column=e.column, hint=e.hint)
            for e in exc.errors
        ]
        raise invalid(f"{len(errors)} error(s) in {filename}; nothing was stored", errors) from exc
    # changing a safety journey (into another purpose too) needs what publishing one needs
    await require_admin_if_ever_safety(engine, principal, compiled.journey_id, "changing")
    previous = await registry.latest(engine, compiled.journey_id)
    result = await registry.store(engine, source, compiled, templates)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    schedule = None
    if touches_schedules(compiled, previous):
        provider: TemporalClientProvider = request.app.state.temporal_client_provider
        try:
            client = await provider()
            change = await sync_published_schedule(engine, client, settings, result.journey_id)
        except Exception as exc:  # not reachable or refused: stored, the schedule not yet set
            raise ApiProblem(
                503,
                "temporal-unavailable",
                "The journey is stored; its schedule is not set yet",
                f"version {result.version} of {result.journey_id} is stored, but Temporal could not set "
                "its schedule: publish the same file again (nothing more is stored) or run "
                "`gridjourney journeys schedules --sync`",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from exc
        schedule = change.change if change is not None else None
    return JourneyPublished(
        journey_id=result.journey_id,
        version=result.version,
        content_hash=result.content_hash,
        created=result.created,
        templates=TemplateChanges(
            added=result.templates.added, changed=result.templates.changed, removed=result.templates.removed
        ),
        state="retired" if await registry.retirement(engine, result.journey_id) else "active",
        schedule=schedule,
    )


def _prepare_publish(
    source: str, filename: str, principal: Principal, settings: Settings
) -> tuple[CompiledJourney, dict[str, str]]:
    """What publishing `source` stores (registry.prepare_version), after the safety scope check;
    raises JourneyErrors or ApiProblem (403). Runs in a worker thread."""
    loaded = load_journey_with_positions(source, filename)
    require_admin_for_safety(principal, loaded.definition.purpose, "publishing")
    return registry.prepare_version(
        loaded, settings.templates_dir, safety_event_types=settings.safety_event_types
    )


@router.post(
    "/{journey_id}/instances",
    status_code=status.HTTP_201_CREATED,
    summary="Start the journey for one customer (manual entry)",
    description=(
        "Starts the latest version for the customer with a synthetic trigger event of type "
        f"`{MANUAL_ENTRY_TYPE}` (so the run records that it was entered by hand, by which key). The "
        "journey's re-entry rule still applies: **201** when a run started, **200** with "
        "`started: false` when the rule kept the customer out. A journey with `purpose: safety` "
        "(sent without consent) needs the `admin` scope: else **403**. `payload` is the run's `event`: "
        "it must be a payload of the journey's trigger event type, validated as `POST /v1/events` "
        "validates it (else **422** naming each field). A cohort or scheduled journey has no "
        "per-customer runs: **409**; a retired journey too (`journey-retired`)."
    ),
    responses={
        **problem_responses(401, 403, 404, 409, 410, 422, 503),
        200: {"description": "Not started (re-entry rule)", "model": InstanceStarted},
    },
)
async def start_instance(
    journey_id: str,
    body: Annotated[
        StartInstance,
        Body(
            openapi_examples={
                "manual": {
                    "summary": "Enter a customer by hand",
                    "value": {
                        "customer_id": "C-1001",
                        "payload": {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12},
                        "request_id": "3f2b8c1a-6d4e-4a7b-9c8d-2e1f0a9b8c7d",
                    },
                }
            }
        ),
    ],
    response: Response,
    principal: JourneysWriter,
    engine: EngineDep,
    store: StoreDep,
    client: TemporalDep,
    settings: SettingsDep,
) -> InstanceStarted:
    journey = await registry.latest(engine, journey_id)
    if journey is None:
        raise not_found("journey", journey_id)
    require_per_customer(journey)
    await require_active(engine, journey_id)  # a retired journey is 409 before the payload is judged
    require_admin_for_safety(principal, journey.definition.purpose, "starting", journey.journey_id)
    payload = trigger_payload(journey, body.payload, settings)
    async with engine.connect() as conn:
        known = await queries.customer_exists(conn, body.customer_id)
    if not known:
        raise not_found("customer", body.customer_id, field="customer_id")
    if await erased_at(engine, body.customer_id) is not None:
        raise customer_erased(body.customer_id)
    request_id = body.request_id or uuid.uuid4()
    trigger = EventRef(
        event_id=str(uuid.uuid5(MANUAL_ENTRY_NAMESPACE, f"{journey_id}:{body.customer_id}:{request_id}")),
        type=MANUAL_ENTRY_TYPE,
        customer_id=body.customer_id,
        occurred_at=datetime.now(UTC),
        payload={**payload, "entered_by": principal.name},
        position=0,  # not in the event log: the run's input and journey.entered record it
    )
    # The same entry as the router's: the re-entry record decides, and the recorded run receives later
    # events (wait_for, goal, exit) as signals from the router. Whether the journey is retired is read
    # again inside its start gate, with the start (router/start_gate.py): a retirement since the check
    # above waits for this start, and one that has returned is seen here (409).
    async with start_gate.starting_runs(engine, [journey_id]):  # this journey's gate only
        await require_active(engine, journey_id)
        result = await enter_journey(
            engine,
            client,
            journey,
            body.customer_id,
            trigger,
            position=await store.head(),
            task_queue=settings.task_queue,
            send_task_queue=settings.send_task_queue,
        )
    if not result.started:
        response.status_code = status.HTTP_200_OK
    return InstanceStarted(
        instance_id=result.workflow_id,
        journey_id=journey_id,
        version=journey.version,
        customer_id=body.customer_id,
        started=result.started,
        trigger_event_id=trigger.event_id,
    )


@router.get(
    "/{journey_id}/instances",
    summary="Instances of a journey, newest first (from the journey_instances projection)",
    responses=problem_responses(401, 403, 422),
)
async def list_instances(
    journey_id: str,
    _: JourneysReader,
    engine: EngineDep,
    page: PageQuery,
    status: Literal["active", "completed", "exited", "converted"] | None = None,
    customer_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[InstanceRow]:
    limit, cursor = page
    before = decode_time_cursor(cursor, "id") if cursor else None
    async with engine.connect() as conn:
        rows = await queries.list_instances(
            conn, journey_id, status=status, customer_id=customer_id, before=before, limit=limit + 1
        )
    return Page[InstanceRow].of(
        [InstanceRow.model_validate(row) for row in rows],
        limit,
        lambda last: {"at": last.entered_at.isoformat(), "id": last.instance_id},
    )
