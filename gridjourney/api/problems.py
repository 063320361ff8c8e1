"""Errors as RFC 9457 `application/problem+json`, each naming the fields at fault and why.

A field is a dotted path into the request body, e.g. `events[3].payload.projected_amount`, so an
integration can point at the exact value it got wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.service import RPCError

from gridjourney.events.store import EventIdConflict
from gridjourney.events.types import UnknownEventType
from gridjourney.outages import outage
from gridjourney.privacy.customer_keys import CustomerErased

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "urn:gridjourney:problem:"


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the value at fault, e.g. events[3].payload.days_left.")
    reason: str
    line: int | None = Field(None, description="For YAML uploads: the 1-based line of the error.")
    column: int | None = Field(None, description="For YAML uploads: the 1-based column of the error.")
    hint: str | None = Field(None, description="How to fix it, when known.")


class Problem(BaseModel):
    # Problem types may add members of their own (RFC 9457, section 3.2), e.g. `position` of a conflict.
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URN naming the kind of problem.", examples=[PROBLEM_BASE + "validation"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The request path.")
    errors: list[FieldError] = Field(default_factory=list)
    position: int | None = Field(
        None, description="For an event_id conflict (409): the position of the original event."
    )


class ApiProblem(Exception):
    """Raised anywhere in a request; rendered as problem+json by the handler below."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.extensions = extensions or {}
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}


def not_found(what: str, key: str, field: str | None = None) -> ApiProblem:
    errors = [FieldError(field=field, reason=f"unknown {what}")] if field else []
    return ApiProblem(
        404, "not-found", f"{what.capitalize()} not found", f"no {what} with id {key!r}", errors
    )


def invalid(detail: str, errors: Sequence[FieldError], status: int = 422) -> ApiProblem:
    return ApiProblem(status, "validation", "The request is invalid", detail, errors)


def event_id_conflict(conflict: EventIdConflict, field: str = "event_id") -> ApiProblem:
    reason = "already used for an event with other content; send a new event_id for a new event"
    return ApiProblem(
        409,
        "event-id-conflict",
        "The event_id names another event",
        str(conflict),
        [FieldError(field=field, reason=reason)],
        extensions={"position": conflict.position} if conflict.position is not None else None,
    )


# Seconds a client should wait before retrying while a dependency is down (outages seen are seconds).
RETRY_AFTER_SECONDS = 5


def unavailable(dependency: str) -> ApiProblem:
    return ApiProblem(
        503,
        f"{dependency}-unavailable",
        f"{dependency.capitalize()} is unavailable",
        "a dependency is down or overloaded; nothing was changed unless a response said so. Retry later.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def internal_error() -> ApiProblem:
    return ApiProblem(
        500,
        "internal",
        "Internal error",
        "the error was logged; nothing in this response describes it. Retry, or report the time.",
    )


def field_path(loc: Iterable[int | str]) -> str:
    """("events", 3, "payload", "x") -> "events[3].payload.x"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _reason(error: dict[str, Any]) -> str:
    reason = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error.get("type") == "timezone_aware":
        reason += " (add a zone, e.g. 2025-07-01T14:00:00Z or +02:00)"
    if error.get("type") == "extra_forbidden":
        reason = "unknown field (not part of this schema)"
    return reason


def pydantic_errors(errors: Iterable[dict[str, Any]], prefix: Sequence[int | str] = ()) -> list[FieldError]:
    """Pydantic error dicts as FieldErrors; `prefix` places them inside the body."""
    return [FieldError(field=field_path([*prefix, *e.get("loc", ())]), reason=_reason(e)) for e in errors]


def problem_response(request: Request, problem: ApiProblem) -> JSONResponse:
    body = Problem(
        type=PROBLEM_BASE + problem.slug,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request.url.path,
        errors=problem.errors,
        **problem.extensions,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(request, exc)


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[FieldError] = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        # FastAPI prefixes where the value came from; the body's own path is what a client fixes.
        if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
            loc = loc[1:] or [loc[0]]
        errors.append(FieldError(field=field_path(loc), reason=_reason(error)))
    return problem_response(request, invalid(f"{len(errors)} invalid value(s)", errors))


async def _unknown_event_type(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UnknownEventType)
    problem = invalid(str(exc), [FieldError(field="type", reason=str(exc))])
    return problem_response(request, problem)


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    # Routing errors (unknown path, wrong method) get the same shape as everything else.
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    problem = ApiProblem(exc.status_code, f"http-{exc.status_code}", str(exc.detail), headers=headers)
    return problem_response(request, problem)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's own 405 names only the first route's,
    though one path may be served by several routes (GET and DELETE of a customer)."""
    routes = request.app.router.routes
    return [
        method
        for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


def customer_erased(customer_id: str, status: int = 410) -> ApiProblem:
    """410 for a new event about an erased customer; 404 (with `erased`) for a read of one."""
    return ApiProblem(
        status,
        "customer-erased",
        "The customer was erased",
        f"customer {customer_id!r} was erased: their personal data is gone and nothing new is recorded",
        [FieldError(field="customer_id", reason="erased")] if status == 410 else [],
        extensions={"erased": True},
    )


async def _customer_erased(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CustomerErased)
    return problem_response(request, customer_erased(exc.customer_id))


async def _event_id_conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EventIdConflict)
    return problem_response(request, event_id_conflict(exc))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """503 for an outage of a dependency, else 500: never the exception's text, which may quote data.
    Logged with the request's method, path template and exception type only."""
    dependency = outage(exc)
    route = request.scope.get("route")
    where = getattr(route, "path", "(no route)")
    if dependency is not None:
        log.warning("%s unavailable during %s %s: %s", dependency, request.method, where, type(exc).__name__)
        return problem_response(request, unavailable(dependency))
    log.error("unexpected %s in %s %s", type(exc).__name__, request.method, where)
    return problem_response(request, internal_error())


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(UnknownEventType, _unknown_event_type)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(EventIdConflict, _event_id_conflict)
    app.add_exception_handler(CustomerErased, _customer_erased)
    # Errors of the database and Temporal clients: 503 when they show an outage, else a plain 500.
    # Anything else that escapes a route is caught by api/middleware.py's last resort.
    for error_class in (sqlalchemy.exc.SQLAlchemyError, psycopg.Error, RPCError, RuntimeError):
        app.add_exception_handler(error_class, unexpected_error)


# For `responses=` of routes: the problem documents an operation can return.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Malformed request",
        401: "Missing or invalid API key",
        403: "The API key lacks the scope",
        404: "Not found",
        408: "The body did not arrive in time",
        409: "Conflict with the current state",
        410: "The customer was erased: nothing more is recorded about them",
        413: "Body over the size limit",
        415: "Unsupported content type",
        422: "Invalid values; `errors` names each field and the reason",
        500: "Unexpected error: logged, and not described in the response",
        503: "A dependency (database, Temporal) is unavailable; `Retry-After` says when to retry",
    }
    return {
        status: {
            "description": descriptions.get(status, "Problem"),
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }


# What any operation may answer: the input guard (api/middleware.py) refuses bodies, paths and queries
# before routing (400, 413, 422), any route may find a dependency down (503), and the last resort
# answers what escaped every handler (500).
COMMON_PROBLEMS = problem_responses(400, 413, 422, 500, 503)
