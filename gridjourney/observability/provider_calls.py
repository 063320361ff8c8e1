"""Provider calls (Twilio, SendGrid, Web Push): their latency as a histogram and, when tracing is on, a
client span each. Calls through aiohttp are hooked in by the session's trace config
(channels/provider_http.py), so those senders are measured without code of their own; SendGrid's
synchronous client is wrapped in `observed_call` (channels/email.py). The cost per call: two clock
reads and one histogram observation; a span only when a tracer provider is configured."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from types import SimpleNamespace

import aiohttp
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from gridjourney.observability import tracing
from gridjourney.observability.metrics import PROVIDER_CALL_SECONDS


def _provider(url: object) -> str:
    host = getattr(url, "host", None) or "unknown"
    port = getattr(url, "explicit_port", None)
    return f"{host}:{port}" if port else str(host)


async def _start(
    _: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestStartParams
) -> None:
    context.started = time.perf_counter()
    context.span = None
    if tracing.enabled():
        context.span = trace.get_tracer(__name__).start_span(
            f"{params.method} {params.url.host}",
            kind=SpanKind.CLIENT,
            attributes={"http.request.method": params.method, "server.address": params.url.host or ""},
        )


def _finish(context: SimpleNamespace, url: object, outcome: str, status: int | None) -> None:
    PROVIDER_CALL_SECONDS.labels(_provider(url), outcome).observe(time.perf_counter() - context.started)
    span: trace.Span | None = context.span
    if span is not None:
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if outcome != "2xx":
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end()


async def _end(
    _: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
) -> None:
    status = params.response.status
    _finish(context, params.url, f"{status // 100}xx", status)


async def _error(
    _: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestExceptionParams
) -> None:
    _finish(context, params.url, "error", None)


@contextlib.contextmanager
def observed_call(provider: str, name: str) -> Iterator[None]:
    """Measure (and trace) the call made inside; an exception's `status_code`, if any, is its outcome."""
    context = SimpleNamespace(started=time.perf_counter(), span=None)
    if tracing.enabled():
        context.span = trace.get_tracer(__name__).start_span(name, kind=SpanKind.CLIENT)
    url = SimpleNamespace(host=provider, explicit_port=None)
    try:
        yield
    except BaseException as error:
        status = getattr(error, "status_code", None)
        code = status if isinstance(status, int) else None
        _finish(context, url, f"{code // 100}xx" if code else "error", code)
        raise
    _finish(context, url, "2xx", None)


def provider_trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_start)
    config.on_request_end.append(_end)
    config.on_request_exception.append(_error)
    return config
