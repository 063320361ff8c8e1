"""Logging as JSON lines, with ids only: personal data never reaches a log.

Records carry what the code logs (ids, positions, reasons). As a second line of defence, anything in a
message or traceback that looks like a phone number or an email address is masked before it is
written: database drivers quote parameters in their errors, and those can hold a customer's contact.
Every writer of the process goes through the same formatter: uvicorn (api/server.py passes no log
config of its own), Python warnings, and the Temporal SDK's core, whose own logger would otherwise
print plain text to stderr.

With tracing on (observability/tracing.py), each line written inside a span carries its `trace_id` and
`span_id`, so that a log line leads to its trace. The SDK's runtime is also where Temporal's own
metrics are exported (settings.temporal_metrics_port).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from opentelemetry import trace
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from gridjourney.config import Settings, get_settings
from gridjourney.observability.tracing import configure_tracing

# E.164 (also URL-encoded, as in a form body) or a national format such as (503) 555-0100; not dates,
# times or IP addresses, which would otherwise be masked too.
PHONE = re.compile(r"(?:\+|%2B)\d{7,15}\b|\(?\b\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}\b")
EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+\.[A-Za-z]{2,}")


def redact(text: str) -> str:
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:  # the ids as trace back-ends show them: 32 and 16 hex digits
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def temporal_telemetry(settings: Settings, *, export_metrics: bool = True) -> TelemetryConfig:
    """The SDK core's records through Python logging (and so through JsonLines); its metrics by its own
    Prometheus exporter when settings.temporal_metrics_port is set and `export_metrics`."""
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    metrics = None
    if export_metrics and settings.temporal_metrics_port is not None:
        metrics = PrometheusConfig(
            bind_address=f"{settings.metrics_host}:{settings.temporal_metrics_port}",
            durations_as_seconds=True,
        )
    return TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding
        ),
        metrics=metrics,
    )


def _configure_temporal_runtime(settings: Settings, *, export_metrics: bool) -> None:
    """Only possible before the first Temporal client of the process exists, which is when the commands
    configure logging."""
    telemetry = temporal_telemetry(settings, export_metrics=export_metrics)
    try:
        Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=True)
    except RuntimeError:
        logging.getLogger(__name__).warning(
            "Temporal's runtime already existed: its core logs stay unforwarded"
        )


def configure_logging(level: int = logging.INFO, *, temporal_metrics: bool = True) -> None:
    """JSON lines on stderr for the whole process (replaces any earlier configuration), tracing when an
    OTLP endpoint is configured, and the Temporal runtime. Every command calls it first.
    GRIDJOURNEY_LOG_LEVEL, when set, overrides the command's `level`. `temporal_metrics=False` leaves
    out the SDK's Prometheus exporter: the API's worker processes would all bind its one port."""
    settings = get_settings()
    configured = settings.log_level
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    logging.basicConfig(level=configured.upper() if configured else level, handlers=[handler], force=True)
    logging.captureWarnings(True)
    configure_tracing(settings)
    _configure_temporal_runtime(settings, export_metrics=temporal_metrics)
