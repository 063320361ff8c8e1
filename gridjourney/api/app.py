"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import RateLimiter
from gridjourney.api.deps import TemporalClientProvider
from gridjourney.api.key_cache import KeyCache
from gridjourney.api.middleware import install_middleware
from gridjourney.api.problems import COMMON_PROBLEMS, install_problem_handlers
from gridjourney.api.routes import (
    admin,
    backtest,
    customers,
    dr_events,
    events,
    health,
    instances,
    journey_lifecycle,
    journeys,
    messages,
    push_subscriptions,
    reads,
    sends,
    suppressions,
    unsubscribe,
    webhooks_sendgrid,
    webhooks_twilio,
)
from gridjourney.config import Settings
from gridjourney.events.store import EventStore
from gridjourney.observability import tracing
from gridjourney.observability.exposition import metrics_route

DESCRIPTION = """
gridjourney runs customer journeys for energy utilities: integrations post events (bill projections,
meter anomalies, demand-response events, outages, sign-ups, consent changes), matching journeys run as
durable Temporal workflows, and every decision (sent, suppressed and why) is recorded as an event.

**Authentication.** Every `/v1` operation needs an API key, created with
`gridjourney keys create --name NAME --scope SCOPE`, sent as `Authorization: Bearer gj_...` or
`X-API-Key: gj_...`. Scopes: `events:write`, `journeys:read`, `journeys:write`; `admin` implies all.

**Errors** are `application/problem+json` (RFC 9457) with `errors: [{field, reason}]`, where `field` is a
path into the body such as `events[3].payload.projected_amount`.

**Lists** take `limit` and return `next_cursor`; pass it back as `cursor` for the next page.
"""

OPENAPI_TAGS = [
    {"name": "events", "description": "The append-only event log: the way in for integrations."},
    {"name": "customers", "description": "Customers as the projections see them, and their timeline."},
    {"name": "journeys", "description": "Journey definitions (YAML), their versions and instances."},
    {"name": "instances", "description": "One customer's run of a journey: live state, cancellation."},
    {"name": "messages", "description": "The message log: sent, suppressed (with the reason), delivered."},
    {"name": "health", "description": "Reachability of the database and Temporal; subscription lag."},
    {"name": "admin", "description": "Operations (scope `admin`): subscriptions and their dead letters."},
    {"name": "sends", "description": "The send ledger (scope `admin`): sends in flight or in doubt."},
    {"name": "suppressions", "description": "The suppression list (scope `admin`): addresses not sent to."},
    {"name": "dr-events", "description": "Demand-response events (scope `admin`): the performance report."},
    {"name": "webhooks", "description": "Providers' callbacks, authenticated by the provider's signature."},
    {"name": "unsubscribe", "description": "The unsubscribe link of every email: a signed token, no login."},
]


def create_app(
    settings: Settings,
    engine: AsyncEngine,
    temporal_client_provider: TemporalClientProvider,
    *,
    dispose_engine: bool = False,
) -> FastAPI:
    """The API over `engine` and the Temporal client `temporal_client_provider` returns.

    Resources live on `app.state` from construction (so the app also works where no lifespan runs, as
    under httpx's ASGITransport); the lifespan disposes the engine at shutdown when `dispose_engine`
    says the app owns it.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if dispose_engine:
                await engine.dispose()

    app = FastAPI(
        title="gridjourney",
        summary="Event-sourced journey orchestration for energy utilities",
        description=DESCRIPTION,
        version=version("gridjourney"),
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        responses=COMMON_PROBLEMS,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.store = EventStore(engine)
    app.state.temporal_client_provider = temporal_client_provider
    app.state.rate_limiter = RateLimiter(settings.api_key_rate_per_second)
    app.state.key_cache = KeyCache(engine, settings.api_key_cache_seconds)
    install_problem_handlers(app)
    install_middleware(app, settings, app.state.rate_limiter)
    for module in (
        events,
        customers,
        push_subscriptions,
        journeys,
        journey_lifecycle,
        instances,
        messages,
        health,
        admin,
        sends,
        suppressions,
        dr_events,
        backtest,
    ):
        app.include_router(module.router)
    app.include_router(reads.router)
    app.include_router(unsubscribe.router)
    app.include_router(webhooks_sendgrid.router)
    app.include_router(webhooks_twilio.router)
    app.include_router(metrics_route(engine, settings))
    events.serve_bare(app)
    if tracing.enabled():
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="/metrics,/healthz")
    return app
