"""Every metric the Grafana dashboard and the Prometheus alerts query is one the code exports: ours from
the API's /metrics, Temporal's from the SDK runtime as gridjourney configures it (gridjourney/logs.py)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from gridjourney.api.app import create_app
from gridjourney.cli import app
from gridjourney.config import Settings
from gridjourney.logs import temporal_telemetry
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
DASHBOARD: dict[str, Any] = json.loads((REPO / "deploy/grafana/gridjourney.json").read_text())
ALERTS: dict[str, Any] = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
METRIC = re.compile(r"\b(?:gridjourney|temporal)_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _dashboard_queries() -> list[str]:
    return [target["expr"] for panel in DASHBOARD["panels"] for target in panel["targets"]]


def _alert_queries() -> list[str]:
    return [rule["expr"] for group in ALERTS["groups"] for rule in group["rules"]]


def _queried(prefix: str) -> set[str]:
    queries = [*_dashboard_queries(), *_alert_queries()]
    return {name for query in queries for name in METRIC.findall(query) if name.startswith(prefix)}


def _series_names(text: str, *, suffixes: dict[str, tuple[str, ...]] = SUFFIXES) -> set[str]:
    """The names a query can use: a family's samples (counter_total, histogram_bucket...)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


async def test_our_queries_name_exported_metrics_and_every_family_has_a_panel(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async def no_temporal() -> Client:
        raise ConnectionError("not needed")

    app = create_app(Settings(home=tmp_path), engine, no_temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        text = (await http.get("/metrics")).text
    exported = _series_names(text)
    queried = _queried("gridjourney_")
    assert queried, "the dashboard queries none of our metrics"
    assert queried <= exported, sorted(queried - exported)
    ours = {
        family.name
        for family in text_string_to_metric_families(text)
        if family.name.startswith("gridjourney_")
    }
    paneled = {
        family
        for family in ours
        if any(re.search(rf"\b{family}(_total|_bucket|_count)?\b", q) for q in _dashboard_queries())
    }
    assert paneled == ours, sorted(ours - paneled)
    for rule in (rule for group in ALERTS["groups"] for rule in group["rules"]):
        assert rule["alert"] and rule["annotations"]["summary"]


@activity.defn
async def echo(text: str) -> str:
    return text


@workflow.defn(sandboxed=False)
class EchoWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(echo, "hi", start_to_close_timeout=timedelta(seconds=10))


async def test_temporal_queries_name_metrics_the_sdk_runtime_exports(
    temporal_dev_env: WorkflowEnvironment,
) -> None:
    port = free_port()
    runtime = Runtime(telemetry=temporal_telemetry(Settings(temporal_metrics_port=port)))
    target = temporal_dev_env.client.service_client.config.target_host
    client = await Client.connect(target, runtime=runtime)
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[EchoWorkflow], activities=[echo]):
        assert await client.execute_workflow(EchoWorkflow.run, id=queue, task_queue=queue) == "hi"
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    # the SDK names counters without a _total suffix (PrometheusConfig counters_total_suffix=False)
    exported = _series_names(text, suffixes={"histogram": ("_bucket", "_count", "_sum")})
    queried = _queried("temporal_")
    assert queried, "the dashboard shows none of Temporal's metrics"
    assert queried <= exported, sorted(queried - exported)


def _rule(name: str) -> dict[str, Any]:
    [rule] = [rule for group in ALERTS["groups"] for rule in group["rules"] if rule["alert"] == name]
    return dict(rule)


def test_every_command_an_alert_names_exists() -> None:
    named = {
        tuple(words.split())
        for group in ALERTS["groups"]
        for rule in group["rules"]
        for words in re.findall(
            r"gridjourney((?: [a-z][a-z-]+)+)", rule["annotations"].get("description", "")
        )
    }
    assert ("subscriptions", "status") in {words[:2] for words in named}
    for words in named:
        # the command and its subcommand (what follows may be its arguments)
        result = CliRunner().invoke(app, [*words[:2], "--help"])
        assert result.exit_code == 0, (words, result.output)


def test_provider_errors_are_5xx_and_transport_errors_not_a_push_subscription_gone() -> None:
    expr = _rule("ProviderErrorRate")["expr"]
    numerator = expr.split("/")[0]
    [(operator, pattern)] = re.findall(r'outcome(=~|!=|=)"([^"]*)"', numerator)
    matched = {
        outcome
        for outcome in ("2xx", "3xx", "4xx", "5xx", "error")
        if (re.fullmatch(pattern, outcome) is not None) == (operator != "!=")
    }
    assert matched == {"5xx", "error"}


async def test_the_send_rate_alert_divides_the_send_queues_dispatch_rate_by_its_limit(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    expr = _rule("SendRateSaturated")["expr"]
    assert "gridjourney_messages_total" not in expr  # cohort batches and SendGrid calls carry many
    assert "temporal_activity_schedule_to_start_latency_count" in expr and "on (task_queue)" in expr
    settings = Settings(home=tmp_path, send_task_queue="sends-here")

    async def no_temporal() -> Client:
        raise ConnectionError("not needed")

    app_ = create_app(settings, engine, no_temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_), base_url="http://api.test") as http:
        text = (await http.get("/metrics")).text
    [family] = [
        f for f in text_string_to_metric_families(text) if f.name == "gridjourney_send_rate_limit_per_second"
    ]
    limits = {sample.labels["channel"]: sample.labels["task_queue"] for sample in family.samples}
    assert limits["all"] == "sends-here"  # the label the alert joins on, as Temporal labels the queue


async def test_figures_read_from_postgres_are_never_added_up_over_the_processes(engine: AsyncEngine) -> None:
    """Every process (API, workers, routers) exports the same Postgres-read figures: a query adding
    them up would show them once per process scraped. Each use must take their max or min over the
    processes first (never grouped by `instance`, which keeps one series per process)."""
    from gridjourney.observability.database import DatabaseGauges

    shared = {family.name for family in DatabaseGauges(engine).collect()}
    assert "gridjourney_ledger_rows_in_doubt" in shared
    for query in [*_dashboard_queries(), *_alert_queries()]:
        for name in shared:
            uses = len(re.findall(rf"\b{name}(_total)?\b", query))
            over_processes = [
                grouping
                for grouping in re.findall(
                    rf"\b(?:max|min)\s*(by\s*\([^)]*\))?\s*\(\s*(?:rate\()?{name}(?:_total)?\b", query
                )
                if "instance" not in grouping
            ]
            assert len(over_processes) == uses, f"{name} is added up over the processes in: {query}"
