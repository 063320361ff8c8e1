"""Per-customer journey throughput: the journey interpreter against a hand-written workflow.

Both run the same three activities (SMS, attribute update, email) for the same customers, on the
same Temporal dev server, Postgres and SMS stand-in, one after the other in one run, under the
sandboxed workflow runner production uses. The journey also loads the customer and records its own
progress events (entered, three steps completed, exited), inside those three activities (the first
send loads the customer, each activity appends the events before it, the last send the step's
completion and the exit): that is the price measured. Besides the wall-clock rates, the CPU each
variant cost per journey is given by process (this process: workers, client and stand-in; the
Temporal dev server; Postgres), which a shared machine does not distort, and the shape of one
journey's history (activities, workflow tasks, events), which nothing distorts.

    gridjourney bench journeys [--journeys 300]       (or: make bench)
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import uvloop
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.handwritten import HandWrittenThreeSteps
from bench.process_cpu import CpuSample, ProcessCpu
from bench.production import as_production_process
from bench.saving import save, stamped
from gridjourney.activities import JourneyActivities
from gridjourney.channels.registry import build_senders, close_senders
from gridjourney.channels.sendgrid_standin import SendGridStandIn
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.db.migrate import upgrade
from gridjourney.demo.utility import customer_events, make_customers
from gridjourney.devstack import postgres_database_url, start_postgres
from gridjourney.dsl.compiler import compile_journey
from gridjourney.dsl.loader import load_journey_text
from gridjourney.entry.starter import start_journey
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.temporal import SEARCH_ATTRIBUTE_KEYS, data_converter, temporal_cli_path
from gridjourney.workflows.contracts import EventRef
from gridjourney.workflows.journey import JourneyWorkflow

RESULTS_DIR = Path(__file__).parent / "results"
BENCH_JOURNEY = """\
id: bench_three_steps
purpose: informational
trigger: {event: customer.created}
entry: {reentry: every_trigger}
steps:
  - id: sms
    send: {channels: [sms], template: welcome}
  - id: touch
    update: {attribute: bench_touched, value: true}
  - id: email
    send: {channels: [email], template: welcome}
"""


async def _wait_all(handles: list[WorkflowHandle[Any, Any]]) -> None:
    await asyncio.gather(*(handle.result() for handle in handles))


async def run(journeys: int) -> dict[str, Any]:
    settings = Settings(templates_dir=Path("templates"), send_rate_per_second=100_000)
    with tempfile.TemporaryDirectory(prefix="gridjourney-bench-") as tmp:
        server = start_postgres(Path(tmp) / "pg")
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        url = postgres_database_url(server.get_uri(), "bench")
        upgrade(url)
        engine = create_engine(url)
        env = await WorkflowEnvironment.start_local(
            data_converter=data_converter(settings),
            search_attributes=SEARCH_ATTRIBUTE_KEYS,
            dev_server_existing_path=str(temporal_cli_path()),
        )
        standin = TwilioStandIn(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
        )
        await standin.start()
        email_standin = SendGridStandIn(api_key=settings.sendgrid_api_key.get_secret_value())
        await email_standin.start()
        settings = settings.model_copy(
            update={"twilio_base_url": standin.base_url, "sendgrid_base_url": email_standin.base_url}
        )
        senders = build_senders(settings, engine)
        try:
            customers = make_customers(journeys, datetime.now(UTC), seed=11)
            now = datetime.now(UTC)
            await EventStore(engine).append([e for c in customers for e in customer_events(c, now)])
            await ProjectionRunner(engine).catch_up()
            cpu = ProcessCpu(Path(tmp) / "pg")
            figures = await _measure(
                env.client, engine, settings, senders, [c.customer_id for c in customers], cpu
            )
            figures["sms_received_by_standin"] = len(standin.received)
            figures["email_received_by_standin"] = len(email_standin.received)
        finally:
            await close_senders(senders)
            await standin.stop()
            await email_standin.stop()
            await env.shutdown()
            await engine.dispose()
            server.cleanup()
    return figures


async def _measure(
    client: Client,
    engine: Any,
    settings: Settings,
    senders: Any,
    customer_ids: list[str],
    cpu: ProcessCpu,
) -> dict[str, Any]:
    activities = JourneyActivities(engine, settings, senders)
    journey = compile_journey(
        load_journey_text(BENCH_JOURNEY, "bench_three_steps.yaml"),
        version=1,
        content_hash="bench",
        templates_dir=settings.templates_dir,
    )
    run_id = uuid.uuid4().hex[:8]
    workers = [
        Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[JourneyWorkflow, HandWrittenThreeSteps],
            activities=activities.journey_activities,
        ),
        Worker(
            client,
            task_queue=settings.send_task_queue,
            activities=activities.send_activities,
            disable_eager_activity_execution=True,
        ),
    ]
    async with workers[0], workers[1]:
        before = cpu.sample()
        started = time.perf_counter()
        handles = [
            await client.start_workflow(
                HandWrittenThreeSteps.run,
                args=[customer_id, settings.send_task_queue],
                id=f"bench:{run_id}:handwritten:{customer_id}",
                task_queue=settings.task_queue,
            )
            for customer_id in customer_ids
        ]
        await _wait_all(handles)
        baseline_seconds = time.perf_counter() - started
        between = cpu.sample()

        started = time.perf_counter()
        journey_handles = []
        for n, customer_id in enumerate(customer_ids):
            trigger = EventRef(
                event_id=f"bench-{run_id}-{n}",
                type="customer.created",
                customer_id=customer_id,
                occurred_at=datetime.now(UTC),
                payload={},
                position=n + 1,
            )
            result = await start_journey(
                client,
                journey,
                customer_id,
                trigger,
                task_queue=settings.task_queue,
                send_task_queue=settings.send_task_queue,
            )
            journey_handles.append(client.get_workflow_handle(result.workflow_id))
        await _wait_all(journey_handles)
        journey_seconds = time.perf_counter() - started
        after = cpu.sample()
        shapes = {
            "handwritten": history_shape(await handles[0].fetch_history()),
            "journey": history_shape(await journey_handles[0].fetch_history()),
        }

    count = len(customer_ids)
    return {
        "journeys": count,
        "handwritten_seconds": round(baseline_seconds, 3),
        "handwritten_per_second": round(count / baseline_seconds, 1),
        "journey_seconds": round(journey_seconds, 3),
        "journey_per_second": round(count / journey_seconds, 1),
        "journey_to_handwritten_ratio": round((count / journey_seconds) / (count / baseline_seconds), 3),
        **_cpu_per_journey("handwritten", between - before, count),
        **_cpu_per_journey("journey", after - between, count),
        **{f"{variant}_{name}": n for variant, shape in shapes.items() for name, n in shape.items()},
    }


def history_shape(history: WorkflowHistory) -> dict[str, int]:
    """What one run cost Temporal: activities scheduled, workflow tasks completed, history events."""
    events = history.events
    return {
        "activities": sum(e.HasField("activity_task_scheduled_event_attributes") for e in events),
        "workflow_tasks": sum(e.HasField("workflow_task_completed_event_attributes") for e in events),
        "history_events": len(events),
    }


def _cpu_per_journey(variant: str, used: CpuSample, count: int) -> dict[str, float]:
    """Milliseconds of CPU per journey, by process, and the ratio of the totals is the other figure to
    compare: wall-clock rates move with whatever else the machine runs."""
    by_process = {"bench": used.bench, "temporal": used.temporal, "postgres": used.postgres}
    figures = {
        f"{variant}_cpu_ms_{name}": round(1000 * seconds / count, 1) for name, seconds in by_process.items()
    }
    figures[f"{variant}_cpu_ms_total"] = round(1000 * sum(by_process.values()) / count, 1)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--journeys", type=int, default=300, help="customers (workflows) per variant")
    args = parser.parse_args(argv)
    # uvloop, as the production worker processes run (gridjourney/worker.py); both variants alike
    figures = uvloop.run(run(args.journeys))
    figures["cpu_ratio"] = round(figures["handwritten_cpu_ms_total"] / figures["journey_cpu_ms_total"], 3)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    stamped(figures, cpus=_cpus())
    print(f"{'variant':<32}{'seconds':>10}{'journeys/s':>12}")
    for label, key in (("hand-written workflow", "handwritten"), ("journey interpreter", "journey")):
        print(f"{label:<32}{figures[f'{key}_seconds']:>10}{figures[f'{key}_per_second']:>12}")
    print(f"ratio (journey / hand-written): {figures['journey_to_handwritten_ratio']}")
    print(f"{'CPU ms per journey':<32}{'bench':>10}{'temporal':>10}{'postgres':>10}{'total':>10}")
    for label, key in (("hand-written workflow", "handwritten"), ("journey interpreter", "journey")):
        cells = "".join(
            f"{figures[f'{key}_cpu_ms_{name}']:>10}" for name in ("bench", "temporal", "postgres", "total")
        )
        print(f"{label:<32}{cells}")
    print(f"CPU ratio (hand-written / journey): {figures['cpu_ratio']}")
    print(f"{'one run':<32}{'activities':>12}{'wf tasks':>10}{'events':>10}")
    for label, key in (("hand-written workflow", "handwritten"), ("journey interpreter", "journey")):
        cells = "".join(
            f"{figures[f'{key}_{name}']:>{width}}"
            for name, width in (("activities", 12), ("workflow_tasks", 10), ("history_events", 10))
        )
        print(f"{label:<32}{cells}")
    print(
        f"SMS and email at the stand-ins: {figures['sms_received_by_standin']}, "
        f"{figures['email_received_by_standin']}   peak RSS: {figures['peak_rss_mb']} MB"
    )
    save(figures, RESULTS_DIR, "journeys")


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    as_production_process()
    main()
