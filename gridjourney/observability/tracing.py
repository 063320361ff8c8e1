"""OpenTelemetry tracing: off unless an OTLP endpoint is configured (settings.otlp_endpoint, or the
standard OTEL_EXPORTER_OTLP_ENDPOINT), then one trace follows an event from its POST through the
router, the journey workflow and its activities to the provider call.

The API is instrumented by FastAPI's instrumentation, Temporal by the SDK's TracingInterceptor (on the
client, and so on its workers), provider calls by observability/provider_calls.py. The hop between the
API and the router is the event log: the store writes the appending span's `traceparent` with each
event (events/store.py), and the router continues that trace when it routes the event (router/).
Everything here is a no-op while tracing is off: no span, no header, no column value.

The event store imports this module, and so does every command that touches the event log: the
OpenTelemetry SDK and Temporal's client are imported only where tracing is configured or used, not
when this module loads.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

from gridjourney.config import Settings

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    from temporalio.client import Interceptor

STANDARD_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
_provider: TracerProvider | None = None


@cache
def _propagator() -> TraceContextTextMapPropagator:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


def enabled() -> bool:
    return _provider is not None


def install(processor: SpanProcessor, service_name: str = "gridjourney") -> TracerProvider:
    """Trace this process into `processor` (OTLP export; tests: an in-memory exporter). Once per
    process: OpenTelemetry's global provider cannot be replaced, so a second call returns the first."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    global _provider
    if _provider is None:
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
        provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
        _provider = provider
    return _provider


def configure_tracing(settings: Settings) -> TracerProvider | None:
    """Export by OTLP/HTTP when an endpoint is configured; None (tracing off) otherwise."""
    if not settings.otlp_endpoint and not os.environ.get(STANDARD_ENDPOINT):
        return None
    # the exporter brings protobuf, which every command would load otherwise
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if settings.otlp_endpoint:
        exporter = OTLPSpanExporter(endpoint=f"{settings.otlp_endpoint.rstrip('/')}/v1/traces")
    else:
        exporter = OTLPSpanExporter()  # reads the standard variables itself
    return install(BatchSpanProcessor(exporter), os.environ.get("OTEL_SERVICE_NAME", "gridjourney"))


def temporal_interceptors() -> list[Interceptor]:
    """The client's interceptors: the SDK's tracing (its workers take it from the client) when on."""
    if not enabled():
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, to be stored with what it appends (None: no trace)."""
    if not enabled():
        return None
    carrier: dict[str, str] = {}
    _propagator().inject(carrier)
    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> Context | None:
    """The context a stored traceparent continues (None: a new trace)."""
    return _propagator().extract({"traceparent": traceparent}) if traceparent else None
