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


def _finish(context: SimpleNamespace, provider: str, outcome: str, status: int | None) -> None:
    PROVIDER_CALL_SECONDS.labels(provider, outcome).observe(time.perf_counter() - context.started)
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
    _finish(context, context.provider, f"{status // 100}xx", status)


async def _error(
    _: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestExceptionParams
) -> None:
    _finish(context, context.provider, "error", None)


@contextlib.contextmanager
def observed_call(provider: str, name: str) -> Iterator[None]:
    """Measure (and trace) the call made inside; an exception's `status_code`, if any, is its outcome."""
    context = SimpleNamespace(started=time.perf_counter(), span=None)
    if tracing.enabled():
        context.span = trace.get_tracer(__name__).start_span(name, kind=SpanKind.CLIENT)
    try:
        yield
    except BaseException as error:
        status = getattr(error, "status_code", None)
        code = status if isinstance(status, int) else None
        _finish(context, provider, f"{code // 100}xx" if code else "error", code)
        raise
    _finish(context, provider, "2xx", None)


def provider_trace_config(provider: str) -> aiohttp.TraceConfig:
    """Hooks that measure each call of a session to `provider` (twilio, webpush): the label is the
    provider's name, never the host (a push service's hosts are as many as the browsers' vendors, and
    a stand-in's host:port differs from the real one's)."""

    class ProviderCall(SimpleNamespace):  # the context aiohttp makes for each call of the session
        def __init__(self, trace_request_ctx: object = None) -> None:
            super().__init__(trace_request_ctx=trace_request_ctx, provider=provider)

    config = aiohttp.TraceConfig(trace_config_ctx_factory=ProviderCall)
    config.on_request_start.append(_start)
    config.on_request_end.append(_end)
    config.on_request_exception.append(_error)
    return config
