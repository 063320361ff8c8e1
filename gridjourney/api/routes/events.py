"""`POST /v1/events`: append one event or a batch, idempotently and all-or-nothing.

The body is read and size-checked before it is parsed, then every event of the request is validated
(envelope and type-specific payload) and all errors are reported together; only a request without
errors is appended, in one transaction.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response, status
from pydantic import BaseModel, Field, ValidationError
from starlette.routing import Route

from gridjourney.api.deps import (
    EngineDep,
    EventsWriter,
    SettingsDep,
    StoreDep,
    admission_context,
    events_writer,
    read_limited_body,
)
from gridjourney.api.dr_rescheduling import refuse_rescheduling
from gridjourney.api.event_batch import quickly_checked, warm
from gridjourney.api.middleware import JSON_BODY
from gridjourney.api.problems import (
    ApiProblem,
    FieldError,
    event_id_conflict,
    field_path,
    invalid,
    problem_responses,
    pydantic_errors,
)
from gridjourney.config import Settings
from gridjourney.events.models import AppendResult, NewEvent
from gridjourney.events.store import CheckedEvent, EventIdConflict
from gridjourney.events.types import (
    ENGINE_EVENT_PREFIXES,
    UnknownEventType,
    is_about_a_customer,
    known_event_types,
    payload_model,
)
from gridjourney.inbound.sendgrid_events import SOURCE as SENDGRID_SOURCE
from gridjourney.inbound.twilio_inbound import REPLY_METHOD
from gridjourney.inbound.twilio_inbound import SOURCE as TWILIO_SOURCE
from gridjourney.inbound.unsubscribe import METHOD as UNSUBSCRIBE_METHOD

router = APIRouter(prefix="/v1/events", tags=["events"])

# Built-in and declared (events/*.yaml, read here once: the OpenAPI document lists them).
INTEGRATION_EVENT_TYPES = sorted(t for t in known_event_types() if not t.startswith(ENGINE_EVENT_PREFIXES))
# The same, as the quick check takes them (api/event_batch.py).
_CHECKED_TYPES = tuple(INTEGRATION_EVENT_TYPES)


class EventsAccepted(BaseModel):
    events: list[AppendResult] = Field(description="One result per event, in request order.")
    appended: int = Field(description="Events written by this request.")
    duplicates: int = Field(description="Events whose event_id was already in the log (nothing written).")


BILL_PROJECTION_EXAMPLE: dict[str, Any] = {
    "event_id": "0b7f6c1e-3d2a-4f7b-9a51-2f8c1d9e4a10",
    "type": "bill.projection_updated",
    "customer_id": "C-1001",
    "occurred_at": "2025-07-14T08:00:00-05:00",
    "source": "billing",
    "payload": {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12, "currency": "USD"},
}
BATCH_EXAMPLE: dict[str, Any] = {
    "events": [
        {
            "event_id": "5d1c3a8e-7a0e-4c1e-8d3b-0a6a2b9f7c21",
            "type": "customer.created",
            "customer_id": "C-1002",
            "occurred_at": "2025-07-14T09:30:00Z",
            "source": "crm",
            "payload": {
                "name": "Ana Ruiz",
                "phone": "+15035550142",
                "email": "ana@example.com",
                "locale": "es",
                "time_zone": "America/Los_Angeles",
            },
        },
        {
            "event_id": "9e2b7f44-1c6d-4b8e-a3f0-6d5c4b3a2e19",
            "type": "consent.changed",
            "customer_id": "C-1002",
            "occurred_at": "2025-07-14T09:30:05Z",
            "source": "crm",
            "payload": {"channel": "sms", "purpose": "informational", "granted": True, "method": "web"},
        },
    ]
}


def _event_schema(event_type: str) -> dict[str, Any]:
    """The envelope of one event type, with that type's payload schema in place of a free object."""
    schema = copy.deepcopy(NewEvent.model_json_schema())
    model = payload_model(event_type)
    properties = schema["properties"]
    schema["title"] = f"Event {event_type}"
    schema["description"] = (model.__doc__ or "").strip() or f"A {event_type} event."
    properties["type"] = {"type": "string", "const": event_type}
    properties["payload"] = {**model.model_json_schema(), "title": f"{model.__name__} payload"}
    if is_about_a_customer(event_type):
        properties["customer_id"] = {**properties["customer_id"]["anyOf"][0], "description": "Required."}
        schema["required"] = [*schema["required"], "customer_id"]
    if any(properties["payload"].get("required", [])):
        schema["required"] = [*schema["required"], "payload"]
    return schema


def _request_body_schema() -> dict[str, Any]:
    # One schema per event type, told apart by `type` (a const in each): a discriminated union.
    single = {"oneOf": [_event_schema(event_type) for event_type in INTEGRATION_EVENT_TYPES]}
    batch = {
        "type": "object",
        "title": "EventBatch",
        "additionalProperties": False,
        "required": ["events"],
        "properties": {"events": {"type": "array", "items": single, "minItems": 1}},
    }
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [single, batch]},
                "examples": {
                    "single": {"summary": "One bill projection", "value": BILL_PROJECTION_EXAMPLE},
                    "batch": {"summary": "A batch (all or nothing)", "value": BATCH_EXAMPLE},
                },
            }
        },
    }


# What an integration does instead of posting an event the engine records itself.
_ENGINE_EVENT_DOORS = {
    "customer.erased": "erase a customer with DELETE /v1/customers/{id}",
    "suppression.": "the engine suppresses an address from provider reports and replies; lift one with "
    "DELETE /v1/suppressions/{channel}/{address}",
    "push.": "register a browser with POST /v1/customers/{id}/push-subscriptions",
}


def _engine_event_reason(event_type: str) -> str:
    door = next((door for start, door in _ENGINE_EVENT_DOORS.items() if event_type.startswith(start)), None)
    recorded = f"{event_type} events are recorded by the engine; integrations may not post them"
    return f"{recorded}: {door}" if door else recorded


# The engine's own `source` names: its namespace (gridjourney, gridjourney.send, .journey, .operator,
# .unsubscribe: activities/, inbound/, privacy/erasure.py) and the provider webhooks it records from
# (inbound/twilio_*.py, inbound/sendgrid_events.py). And the consent methods only the engine records:
# a customer's STOP/START reply, a click on an unsubscribe link. An integration claiming either would
# forge the customer's own act in the consent audit trail ("opted in by reply START"). The engine's
# own appends do not come through this door.
ENGINE_SOURCE_PREFIX = "gridjourney"
ENGINE_SOURCES = frozenset({TWILIO_SOURCE, SENDGRID_SOURCE})
ENGINE_CONSENT_METHODS = frozenset({REPLY_METHOD, UNSUBSCRIBE_METHOD})


def _skeleton(name: str) -> str:
    """`name` as a reader of the audit trail would see it: compatibility forms folded (fullwidth
    letters), case folded, and everything but letters and digits dropped (spaces, zero-width and
    soft hyphens, dashes and underscores of any kind), so a look-alike of an engine name matches it."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(character for character in folded if character.isalnum())


_ENGINE_SOURCE_SKELETONS = frozenset(_skeleton(source) for source in ENGINE_SOURCES)
_ENGINE_METHOD_SKELETONS = frozenset(_skeleton(method) for method in ENGINE_CONSENT_METHODS)


def is_engine_source(source: str) -> bool:
    name = _skeleton(source)
    return name.startswith(ENGINE_SOURCE_PREFIX) or name in _ENGINE_SOURCE_SKELETONS


def _engine_claims(checked: list[CheckedEvent], is_batch: bool) -> list[FieldError]:
    """The events of a request that claim to be the engine's own: by their source, or (a consent
    change) by a method only the engine records."""
    errors: list[FieldError] = []
    for index, item in enumerate(checked):
        prefix: list[int | str] = ["events", index] if is_batch else []
        if is_engine_source(item.event.source):
            reason = f"{item.event.source!r} is a source the engine records under; name your system instead"
            errors.append(FieldError(field=field_path([*prefix, "source"]), reason=reason))
        method = item.payload.get("method") if item.event.type == "consent.changed" else None
        if isinstance(method, str) and _skeleton(method) in _ENGINE_METHOD_SKELETONS:
            reason = (
                f"{method!r} is recorded by the engine only (from the customer's reply or unsubscribe "
                "link); say how your system got the change, e.g. web, call, paper"
            )
            errors.append(FieldError(field=field_path([*prefix, "payload", "method"]), reason=reason))
    return errors


def _check_event(
    item: Any, prefix: list[int | str], context: dict[str, Any]
) -> tuple[CheckedEvent | None, list[FieldError]]:
    """The event with its payload as stored, and every error found in it: envelope, type and payload."""
    errors: list[FieldError] = []
    event: NewEvent | None = None
    try:
        event = NewEvent.model_validate(item, context=context)
    except ValidationError as exc:
        errors += pydantic_errors(exc.errors(), prefix)  # type: ignore[arg-type]
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        return None, errors
    event_type: str = item["type"]
    if event_type.startswith(ENGINE_EVENT_PREFIXES):
        reason = _engine_event_reason(event_type)
        return None, [*errors, FieldError(field=field_path([*prefix, "type"]), reason=reason)]
    try:
        model = payload_model(event_type)
    except UnknownEventType as exc:
        return None, [*errors, FieldError(field=field_path([*prefix, "type"]), reason=str(exc))]
    payload = item.get("payload", {})
    if not isinstance(payload, dict):
        return None, errors  # the envelope's error names it
    try:
        stored = model.model_validate(payload, context=context).model_dump(mode="json")
    except ValidationError as exc:
        return None, [*errors, *pydantic_errors(exc.errors(), [*prefix, "payload"])]  # type: ignore[arg-type]
    # Validated here, the payload is not validated again by the store (events/store.py CheckedEvent).
    return (CheckedEvent(event, stored) if event is not None and not errors else None), errors


def _carefully_checked(items: list[Any], is_batch: bool, context: dict[str, Any]) -> list[CheckedEvent]:
    """Each event checked on its own; raises 422 listing every error of every event."""
    checked: list[CheckedEvent] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        event, item_errors = _check_event(item, ["events", index] if is_batch else [], context)
        errors += item_errors
        if event is not None:
            checked.append(event)
    if errors:
        raise invalid(f"{len(errors)} invalid value(s); nothing was appended", errors)
    return checked


def _items(body: Any, max_batch: int) -> tuple[list[Any], bool]:
    """(the events of the body, whether it was a batch)."""
    if isinstance(body, dict) and "events" in body:
        extra = sorted(set(body) - {"events"})
        if extra:
            raise invalid("a batch has only `events`", [FieldError(field=extra[0], reason="unknown field")])
        items = body["events"]
        if not isinstance(items, list) or not items:
            reason = "an empty list" if isinstance(items, list) else "not a list"
            raise invalid("`events` must be a non-empty list", [FieldError(field="events", reason=reason)])
        if len(items) > max_batch:
            reason = f"{len(items)} events; at most {max_batch} per request"
            raise ApiProblem(
                413, "batch-too-large", "Too many events", reason, [FieldError(field="events", reason=reason)]
            )
        return items, True
    if isinstance(body, dict):
        return [body], False
    raise invalid(
        'the body must be an event object or {"events": [...]}',
        [FieldError(field="body", reason="not an object")],
    )


def _conflict(conflict: EventIdConflict, events: list[NewEvent], is_batch: bool) -> ApiProblem:
    """409 naming the event whose event_id was used before for other content (the last copy: in a
    batch that repeats an event_id, the first copy is the original)."""
    index = max(i for i, event in enumerate(events) if event.event_id == conflict.event_id)
    field = field_path(["events", index, "event_id"] if is_batch else ["event_id"])
    return event_id_conflict(conflict, field)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EventsAccepted,
    summary="Append events",
    description=(
        'Append one event, or a batch as `{"events": [...]}`. Every event is validated against its '
        "type's schema (built-in, or declared in the utility's `events/*.yaml`) before anything is "
        "written; one bad event refuses the whole request (422, with "
        "each field named as e.g. `events[3].payload.projected_amount`). `event_id` is the idempotency "
        "key: a repeated event gets its original position with `duplicate: true` and writes nothing; "
        "an event_id reused for other content is refused with 409 naming the original position. "
        "A `dr.event_scheduled` for a DR event already scheduled with another program, period, level or "
        "target is refused with 409 naming `payload.dr_event_id`: change an event with "
        "`dr.event_modified`. "
        "Answers **201** when anything was appended and **200** when every event was a duplicate, only "
        "after the events are committed (durable). Engine events (`journey.*`, `message.*`) are refused, "
        "and so are the engine's own sources (`gridjourney...`, `twilio`, `sendgrid`) and the consent "
        "methods only it records (`sms_reply`, `unsubscribe_link`): 422 naming `source` or "
        "`payload.method`. "
        "Limits: `GRIDJOURNEY_MAX_EVENT_BODY_BYTES` (default 1 MB) and `GRIDJOURNEY_MAX_EVENTS_PER_BATCH` "
        "(default 1000), both answered with 413."
    ),
    responses={
        **problem_responses(400, 401, 403, 409, 410, 413, 415, 422, 503),
        200: {"description": "Every event was a duplicate; nothing was written", "model": EventsAccepted},
    },
    openapi_extra={"requestBody": _request_body_schema()},
)
async def post_events(
    request: Request,
    _: EventsWriter,
    store: StoreDep,
    engine: EngineDep,
    settings: SettingsDep,
) -> Response:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", "") and not content_type.endswith("+json"):
        raise ApiProblem(
            415, "unsupported-media-type", "Send JSON", f"got {content_type}; use application/json"
        )
    items, is_batch = _items(await _body(request, settings), settings.max_events_per_batch)
    context = admission_context(settings)
    # All events in one call; only a request it refuses is checked event by event, to name each error.
    quick = quickly_checked(items, _CHECKED_TYPES, context)
    checked = quick if quick is not None else _carefully_checked(items, is_batch, context)
    if claims := _engine_claims(checked, is_batch):
        raise invalid(f"{len(claims)} invalid value(s); nothing was appended", claims)
    events = [item.event for item in checked]
    await refuse_rescheduling(engine, store, events, is_batch)
    try:
        results = await store.append(checked)
    except EventIdConflict as conflict:
        raise _conflict(conflict, events, is_batch) from conflict
    duplicates = sum(r.duplicate for r in results)
    accepted = EventsAccepted(events=results, appended=len(results) - duplicates, duplicates=duplicates)
    # Rendered here: FastAPI would validate the answer against its model once more (1,000 results).
    return Response(
        accepted.model_dump_json(),
        status_code=status.HTTP_200_OK if duplicates == len(results) else status.HTTP_201_CREATED,
        media_type="application/json",
    )


async def _serve_post_events(request: Request) -> Response:
    """`post_events` with its dependencies resolved by hand: FastAPI's resolution of the seven
    (key, scope, rate, store, engine, settings) cost as much CPU as the rest of a one-event request."""
    state = request.app.state
    writer = await events_writer(request)
    return await post_events(request, writer, state.store, state.engine, state.settings)


def serve_bare(app: FastAPI) -> None:
    """Serve `POST /v1/events` by a plain Starlette route ahead of FastAPI's: the same handler, the
    same middleware and problem handlers. FastAPI's route stays for the OpenAPI document, and for
    any other method on the path (405 as before)."""
    app.router.routes.insert(0, Route(router.prefix, _serve_post_events, methods=["POST"]))
    warm(_CHECKED_TYPES)  # before the process freezes its start-up objects (api/server.py)


async def _body(request: Request, settings: Settings) -> Any:
    """The JSON body: as InputGuard parsed and checked it (api/middleware.py), else read and parsed."""
    state = request.scope.get("state", {})
    if JSON_BODY in state:
        return state[JSON_BODY]
    raw = await read_limited_body(request, settings.max_event_body_bytes)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiProblem(
            400,
            "malformed-json",
            "The body is not JSON",
            str(exc),
            [FieldError(field="body", reason=str(exc))],
        ) from exc
