"""Errors as RFC 9457 `application/problem+json`, each naming the fields at fault and why.

A field is a dotted path into the request body, e.g. `events[3].payload.projected_amount`, so an
integration can point at the exact value it got wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridjourney.events.types import UnknownEventType

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "urn:gridjourney:problem:"


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the value at fault, e.g. events[3].payload.days_left.")
    reason: str
    line: int | None = Field(None, description="For YAML uploads: the 1-based line of the error.")
    column: int | None = Field(None, description="For YAML uploads: the 1-based column of the error.")
    hint: str | None = Field(None, description="How to fix it, when known.")


class Problem(BaseModel):
    type: str = Field(description="A URN naming the kind of problem.", examples=[PROBLEM_BASE + "validation"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The request path.")
    errors: list[FieldError] = Field(default_factory=list)


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
    ) -> None:
        super().__init__(detail or title)
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
    reason = str(error.get("msg", "invalid value"))
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
    problem = ApiProblem(
        exc.status_code, f"http-{exc.status_code}", str(exc.detail), headers=dict(exc.headers or {})
    )
    return problem_response(request, problem)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(UnknownEventType, _unknown_event_type)
    app.add_exception_handler(StarletteHTTPException, _http_exception)


# For `responses=` of routes: the problem documents an operation can return.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Malformed request",
        401: "Missing or invalid API key",
        403: "The API key lacks the scope",
        404: "Not found",
        409: "Conflict with the current state",
        413: "Body over the size limit",
        415: "Unsupported content type",
        422: "Invalid values; `errors` names each field and the reason",
        503: "A dependency (database, Temporal) is unavailable",
    }
    return {
        status: {
            "description": descriptions.get(status, "Problem"),
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }
