"""Dependencies of the routes, as `Annotated` types: settings, database, event store, Temporal, caller."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.converter import DataConverter

from gridjourney.api.auth import Principal, expired_at
from gridjourney.api.key_cache import KeyCache
from gridjourney.api.middleware import rate_limited
from gridjourney.api.problems import ApiProblem, FieldError, unavailable
from gridjourney.config import Settings
from gridjourney.events.fields import ADMISSION, Admission
from gridjourney.events.store import EventStore
from gridjourney.temporal import connect

# Returns a connected client; raises when Temporal cannot be reached.
TemporalClientProvider = Callable[[], Awaitable[Client]]
TEMPORAL_CONNECT_TIMEOUT_S = 5.0


def lazy_temporal_client(address: str, namespace: str, converter: DataConverter) -> TemporalClientProvider:
    """Connect on first use and keep the client; a failed attempt is retried on the next request, so the
    API starts (and accepts events) while Temporal is still down."""
    client: Client | None = None
    lock = asyncio.Lock()

    async def provide() -> Client:
        nonlocal client
        async with lock:
            if client is None:
                client = await asyncio.wait_for(
                    connect(address, namespace, converter), TEMPORAL_CONNECT_TIMEOUT_S
                )
            return client

    return provide


# Coroutines, not plain functions: FastAPI runs a plain function dependency in a worker thread.
async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def _store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


async def _temporal(request: Request) -> Client:
    provider: TemporalClientProvider = request.app.state.temporal_client_provider
    try:
        return await provider()
    except Exception as exc:  # any connection failure means the same to the caller: try later
        raise unavailable("temporal") from exc


SettingsDep = Annotated[Settings, Depends(_settings)]
EngineDep = Annotated[AsyncEngine, Depends(_engine)]
StoreDep = Annotated[EventStore, Depends(_store)]
TemporalDep = Annotated[Client, Depends(_temporal)]

# Both schemes appear in the OpenAPI document (the docs' Authorize button); either one is accepted.
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer gj_<key_id>_<secret>`")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="`X-API-Key: gj_<key_id>_<secret>`"
)


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401, "unauthorized", "Missing or invalid API key", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _raw_key(request: Request) -> str | None:
    """The key as `_bearer` and then `_api_key_header` read it (for routes served without FastAPI's
    dependencies): a Bearer credential first, else X-API-Key."""
    authorization = request.headers.get("authorization")
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or None


async def _authenticated(request: Request, raw: str | None) -> Principal:
    if not raw:
        raise _unauthorized("send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`")
    keys: KeyCache = request.app.state.key_cache
    principal = await keys.authenticate(raw)
    if principal is None:
        expired = await expired_at(keys.engine, raw)
        if expired is not None:  # told only to a caller holding the whole key (api/auth.py expired_at)
            raise _unauthorized(
                f"the API key expired at {expired.astimezone(UTC):%Y-%m-%d %H:%M} UTC (create another: "
                "gridjourney keys create)"
            )
        raise _unauthorized(
            "the API key is unknown, revoked or malformed (create one: gridjourney keys create)"
        )
    return principal


async def _principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    return await _authenticated(request, bearer.credentials if bearer is not None else api_key)


def _allowed(principal: Principal, scope: str) -> Principal:
    if not principal.allows(scope):
        raise ApiProblem(
            403,
            "forbidden",
            "The API key lacks the scope",
            f"this operation needs the scope {scope!r}; the key {principal.key_id} has "
            f"{', '.join(principal.scopes)}",
        )
    return principal


def require_scope(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        return _allowed(principal, scope)

    return check


def _within_rate(request: Request, principal: Principal) -> Principal:
    """An `events:write` caller within its key's rate (api/auth.py RateLimiter), else 429."""
    wait = request.app.state.rate_limiter.retry_after(principal)
    if wait is not None:
        raise rate_limited(principal.key_id, wait)
    return principal


async def _rate_limited_writer(
    request: Request, principal: Annotated[Principal, Depends(require_scope("events:write"))]
) -> Principal:
    return _within_rate(request, principal)


async def events_writer(request: Request) -> Principal:
    """What `EventsWriter` resolves to, without FastAPI's dependency machinery: for the bare route of
    `POST /v1/events` (api/routes/events.py), the path of every ingested event."""
    principal = await _authenticated(request, _raw_key(request))
    return _within_rate(request, _allowed(principal, "events:write"))


EventsWriter = Annotated[Principal, Depends(_rate_limited_writer)]
JourneysReader = Annotated[Principal, Depends(require_scope("journeys:read"))]
JourneysWriter = Annotated[Principal, Depends(require_scope("journeys:write"))]
Admin = Annotated[Principal, Depends(require_scope("admin"))]


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it exceeds `limit` bytes: before any parsing, and
    without buffering more than the limit (a declared Content-Length is checked first)."""
    too_large = ApiProblem(
        413,
        "body-too-large",
        "The body is over the size limit",
        f"the limit is {limit} bytes; split the request",
        [FieldError(field="body", reason=f"larger than {limit} bytes")],
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def _optional_temporal(request: Request) -> Client | None:
    provider: TemporalClientProvider = request.app.state.temporal_client_provider
    try:
        return await provider()
    except Exception:  # reads that can answer from Postgres alone do so while Temporal is down
        return None


OptionalTemporalDep = Annotated[Client | None, Depends(_optional_temporal)]


# --- query parameters: a name a route does not read is refused, not ignored ---------------------
# An unknown filter (`GET /v1/sends?customer_id=C-1`) silently ignored answers with rows the caller
# did not ask for: other customers' sends.
MAX_UNKNOWN_SHOWN = 20
MAX_NAME_SHOWN = 100


def _route_query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route reads, its dependencies' included (`limit` and `cursor` of
    PageQuery, say). A walk of a few dependants: cheaper than a cache keyed on unhashable routes."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _route_query_names(sub)
    return names


async def known_query_parameters(request: Request) -> None:
    """422 naming every query parameter the matched route does not read (for list routes, whose
    filters a typo would otherwise widen)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _route_query_names(route.dependant)
    unknown = sorted({name for name in request.query_params if name not in known})
    if not unknown:
        return
    # named back to the caller, so bounded: a few names, each cut short
    named = [name[:MAX_NAME_SHOWN] for name in unknown[:MAX_UNKNOWN_SHOWN]]
    accepted = ", ".join(sorted(known)) or "none"
    raise ApiProblem(
        422,
        "unknown-query-parameter",
        "Unknown query parameter",
        f"this route does not read {', '.join(named)}; it reads: {accepted}",
        [FieldError(field=name, reason=f"unknown query parameter; known: {accepted}") for name in named],
    )


# A route's parameter after its caller's (so a caller without a key hears 401 first):
# `_: KnownQueryParameters`.
KnownQueryParameters = Annotated[None, Depends(known_query_parameters)]


def admission_context(settings: Settings) -> dict[str, Any]:
    """The validation context of an event's door (POST /v1/events, a manual start's payload): the
    configured locales and the occurred_at bounds, as of now."""
    door = Admission(
        now=datetime.now(UTC),
        max_future=settings.occurred_at_max_future,
        max_past=settings.occurred_at_max_past,
        locales=frozenset(settings.locales),
    )
    return {ADMISSION: door}
