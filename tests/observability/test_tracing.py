"""One trace follows an event: the POST to the API, the router continuing it from the event log, the
journey workflow started by the SDK's tracing interceptor, and the send activity with its provider
call to the SMS stand-in. Real API, database, Temporal dev server, workers and router."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gridjourney.config import Settings
from gridjourney.demo.utility import daytime_zones
from gridjourney.logs import JsonLines
from gridjourney.observability.tracing import configure_tracing, temporal_interceptors
from tests.stack import api_stack, eventually


def _event(kind: str, customer_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "customer_id": customer_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "billing",
        "payload": payload,
    }


async def test_one_trace_links_the_post_to_the_send(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, spans: InMemorySpanExporter
) -> None:
    config = temporal_dev_env.client.config()
    config["interceptors"] = temporal_interceptors()
    traced = Client(**config)
    customer = f"C-TR-{uuid.uuid4().hex[:6]}"
    async with api_stack(engine, traced) as stack:
        setup = [
            _event(
                "customer.created",
                customer,
                {"name": "Ada", "phone": "+15035550143", "time_zone": daytime_zones(datetime.now(UTC))[0]},
            ),
            _event(
                "consent.changed", customer, {"channel": "sms", "purpose": "informational", "granted": True}
            ),
        ]
        response = await stack.http.post("/v1/events", json={"events": setup}, headers=stack.writer)
        assert response.status_code in (200, 201, 202), response.text
        spans.clear()
        bill = _event(
            "bill.projection_updated",
            customer,
            {"projected_amount": 212.4, "typical_amount": 138.0, "days_left": 12},
        )
        response = await stack.http.post("/v1/events", json=bill, headers=stack.writer)
        assert response.status_code in (200, 201, 202), response.text

        [post] = [s for s in spans.get_finished_spans() if s.name == "POST /v1/events"]
        assert post.kind == trace.SpanKind.SERVER and post.context is not None
        trace_id = post.context.trace_id

        def in_trace() -> set[str]:
            finished = spans.get_finished_spans()
            return {s.name for s in finished if s.context is not None and s.context.trace_id == trace_id}

        async def provider_called() -> bool:  # the call to Twilio, inside the send activity
            return any(name.startswith("POST 127.0.0.1") for name in in_trace())

        async def send_activity_ended() -> bool:
            return "RunActivity:send_message" in in_trace()

        await eventually(provider_called, "the provider call's span in the POST's trace")
        await eventually(send_activity_ended, "the send activity's span in the POST's trace")
    names = in_trace()
    assert "route bill.projection_updated" in names
    assert "StartWorkflow:JourneyWorkflow" in names and "RunWorkflow:JourneyWorkflow" in names


def test_a_log_line_inside_a_span_names_its_trace(spans: InMemorySpanExporter) -> None:
    with trace.get_tracer(__name__).start_as_current_span("work") as span:
        record = logging.LogRecord("gridjourney", logging.INFO, __file__, 1, "routed %d", (7,), None)
        line = JsonLines().format(record)
    context = span.get_span_context()
    assert f'"trace_id": "{context.trace_id:032x}"' in line
    assert f'"span_id": "{context.span_id:016x}"' in line
    outside = JsonLines().format(record)
    assert "trace_id" not in outside


def test_without_an_endpoint_tracing_stays_off(tmp_path: Path) -> None:
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in os.environ  # the suite runs without one
    assert configure_tracing(Settings(home=tmp_path)) is None


def test_the_event_store_loads_without_the_sdk_or_temporals_client() -> None:
    # a fresh interpreter: this one has both loaded by the tests above
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, gridjourney.events.store\n"
            "print(sorted(m for m in ('opentelemetry.sdk.trace', 'temporalio.client') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == "[]"
