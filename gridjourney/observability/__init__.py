"""Metrics (Prometheus), traces (OpenTelemetry) and what operators read from them."""
