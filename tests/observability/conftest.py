"""Tracing into memory for the tests that read spans. OpenTelemetry's global provider is set once per
process, so the exporter is the session's; each test clears it first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gridjourney.observability import tracing

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    tracing.install(SimpleSpanProcessor(_EXPORTER), "gridjourney-test")
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()
