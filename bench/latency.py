"""Latency of the per-customer path: `POST /v1/events` → the SMS at the provider stand-in, at a fixed
rate (20 events/s for 60 s by default), for a journey whose first step sends an SMS.

    gridjourney bench latency [--rate 20] [--seconds 60] [--layout production|embedded]
    .venv/bin/python -m bench.latency [--rate 20] [--seconds 60] [--profile latency.prof]

The system runs as production runs it (README "Production", docker-compose.yml), each part its own
child process with this process's settings: the API (uvicorn, bench/api_process.py), one `gridjourney
worker` (the Temporal workers, both queues) and one `gridjourney router` (the projections and the event
router), on a Temporal dev server and an embedded Postgres. This process stands for the outside world:
the Twilio stand-in and the load. `--layout embedded` runs the workers, the projections and the router
in this process instead (gridjourney/stack.py WorkerSide, as `gridjourney run` does; the API stays its
own process), beside the stand-in and the load: its router's client has a worker, so journeys start
eagerly. Each trigger goes to a customer of its own (the SMS cap is never
reached), created and given SMS consent through the API before the clock starts. The load is open:
each POST leaves at its scheduled moment whatever the answers before it took. Latency is the
stand-in's receive time minus the moment the POST was sent.

Where the time goes: CPU per SMS by process (api, worker, router, standin_and_load: this process,
postgres, temporal), this process's CPU by thread, and each leg of the path read back after the run for
a sample of the triggers (bench/latency_stages.py). `--profile PATH` saves a cProfile of this process's
event loop thread while posting, and makes each child profile itself for its whole life (start-up and
seeding included) beside it, written as it stops: for latency.prof, latency-api.prof.<pid>,
latency-worker.prof and latency-router.prof.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import uvloop
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from bench.api_process import ApiProcess
from bench.child_processes import production_processes
from bench.cohort_seed import all_day_policy
from bench.ingest import Cpu, own_cpu_seconds, percentile_ms, postgres, tree_cpu_seconds
from bench.latency_stages import appended_per_sms, log_head, stages, thread_cpu_seconds
from bench.production import as_production_process
from bench.saving import save, stamped
from gridjourney.api.auth import create_key
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings, get_settings
from gridjourney.db.engine import create_engine
from gridjourney.dsl import registry
from gridjourney.privacy.keyring import generate_key, process_keyring
from gridjourney.projections.runner import SUBSCRIPTION_NAME as PROJECTIONS_SUBSCRIPTION
from gridjourney.router.router import SUBSCRIPTION_NAME as ROUTER_SUBSCRIPTION
from gridjourney.stack import WorkerSide
from gridjourney.temporal import SEARCH_ATTRIBUTE_KEYS, data_converter, temporal_cli_path

RESULTS_DIR = Path(__file__).parent / "results"
CHECKOUT = Path(__file__).resolve().parents[1]
GOALS_MS = {"p50": 150, "p99": 500}
BASELINE_MS = {"p50": 242, "p90": 284}
SETTLE_TIMEOUT_S = 300.0
DRAIN_TIMEOUT_S = 60.0
LATENCY_JOURNEY = """\
id: bench_latency_sms
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - id: sms
    send: {channels: [sms], template: welcome}
"""


def phone(n: int) -> str:
    return f"+1503{2_000_000 + n:07d}"


def customer_id(n: int) -> str:
    return f"C-LAT-{n:06d}"


def _event(event_type: str, n: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "customer_id": customer_id(n),
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "bench.latency",
        "payload": payload,
    }


def customer_events(n: int) -> list[dict[str, Any]]:
    """A customer with a phone and SMS consent for informational messages."""
    created = {
        "name": f"Bench {n}",
        "phone": phone(n),
        "locale": "en",
        "time_zone": "America/Los_Angeles",
    }
    consent = {"channel": "sms", "purpose": "informational", "granted": True, "method": "web"}
    return [_event("customer.created", n, created), _event("consent.changed", n, consent)]


def trigger(n: int) -> dict[str, Any]:
    payload = {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12, "currency": "USD"}
    return _event("bill.projection_updated", n, payload)


async def settled(engine: AsyncEngine, timeout: float = SETTLE_TIMEOUT_S) -> None:
    """Wait until the projections and the router (the router process's subscriptions, both saved once
    at least) have handled every event stored so far."""
    query = text(
        "SELECT (SELECT coalesce(max(position), 0) FROM events), "
        "(SELECT coalesce(min(position), 0) FROM subscription_checkpoints), "
        "(SELECT count(*) FROM subscription_checkpoints WHERE name = ANY(:names))"
    )
    names = [ROUTER_SUBSCRIPTION, PROJECTIONS_SUBSCRIPTION]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            head, slowest, saved = (await conn.execute(query, {"names": names})).one()
        if saved == len(names) and slowest >= head:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the projections and the router did not catch up within {timeout:.0f} s")


async def seed_customers(api: httpx.AsyncClient, count: int) -> None:
    events = [e for n in range(count) for e in customer_events(n)]
    for start in range(0, len(events), 1_000):
        answer = await api.post("/v1/events", json={"events": events[start : start + 1_000]})
        if answer.status_code != 201:
            raise RuntimeError(f"seeding the customers was refused: {answer.status_code} {answer.text}")


async def fire(api: httpx.AsyncClient, rate: float, count: int) -> tuple[dict[str, float], list[int]]:
    """POST one trigger every 1/rate seconds (open loop). (when each customer's POST left, in epoch
    seconds by phone; the answers' status codes)."""
    sent_at: dict[str, float] = {}
    statuses: list[int] = []

    async def post(n: int) -> None:
        sent_at[phone(n)] = time.time()
        statuses.append((await api.post("/v1/events", json=trigger(n))).status_code)

    started = time.perf_counter()
    posts = []
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        posts.append(asyncio.create_task(post(n)))
    await asyncio.gather(*posts)
    return sent_at, statuses


async def received_all(standin: TwilioStandIn, count: int, timeout: float = DRAIN_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while len(standin.received) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


@dataclass(frozen=True)
class TemporalTuning:
    """The dev server's tuning, the operator's to choose: dynamic config values (`KEY=VALUE`, as
    `temporal server start-dev --dynamic-config-value` takes them) and GOGC for its process."""

    dynamic_config: tuple[str, ...] = ()
    gogc: int | None = None

    def extra_args(self) -> list[str]:
        return [arg for value in self.dynamic_config for arg in ("--dynamic-config-value", value)]

    def figures(self) -> dict[str, Any]:
        return {"dynamic_config": list(self.dynamic_config), "gogc": self.gogc}


@contextlib.contextmanager
def go_gc(percent: int | None) -> Iterator[None]:
    """GOGC for the processes started meanwhile (the dev server inherits the environment)."""
    before = os.environ.get("GOGC")
    if percent is not None:
        os.environ["GOGC"] = str(percent)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GOGC", None)
        else:
            os.environ["GOGC"] = before


@contextlib.asynccontextmanager
async def servers(
    tmp: Path, tuning: TemporalTuning = TemporalTuning()
) -> AsyncIterator[tuple[Settings, AsyncEngine, WorkflowEnvironment, int]]:
    """Postgres, the Temporal dev server and the configuration: (settings, engine, Temporal, the
    postmaster's pid)."""
    os.environ.update(
        {
            "GRIDJOURNEY_HOME": str(tmp / "home"),
            "GRIDJOURNEY_ENCRYPTION_KEYS": json.dumps({"bench": generate_key()}),
            "GRIDJOURNEY_TEMPLATES_DIR": str(CHECKOUT / "templates"),
            "GRIDJOURNEY_POLICY_FILE": str(all_day_policy(tmp)),
            "GRIDJOURNEY_SEND_RATE_PER_SECOND": "100000",
            "GRIDJOURNEY_SCORING_SCHEDULE": "false",
        }
    )
    get_settings.cache_clear()  # both were built at import, from the environment before the key above
    process_keyring.cache_clear()
    async with postgres(tmp) as (url, pg_pid):
        os.environ["GRIDJOURNEY_DATABASE_URL"] = url
        settings = Settings()
        engine = create_engine(url)
        with go_gc(tuning.gogc):
            temporal = await WorkflowEnvironment.start_local(
                data_converter=data_converter(settings),
                search_attributes=SEARCH_ATTRIBUTE_KEYS,
                dev_server_existing_path=str(temporal_cli_path()),
                dev_server_log_level="never",
                dev_server_extra_args=tuning.extra_args(),
            )
        try:
            yield settings, engine, temporal, pg_pid
        finally:
            await temporal.shutdown()
            await engine.dispose()


LAYOUTS = ("production", "embedded")


@dataclass(frozen=True)
class System:
    """The system under load: where the API answers, and a CPU-seconds reader per process."""

    api_url: str
    cpu_readers: dict[str, Any]
    processes: dict[int, str]
    """The processes that may run workflow tasks, by pid."""


@contextlib.asynccontextmanager
async def system(
    layout: str, tmp: Path, temporal: WorkflowEnvironment, engine: AsyncEngine, settings: Settings,
    profile: Path | None,
) -> AsyncIterator[System]:  # fmt: skip
    """`production`: the API, `gridjourney worker` and `gridjourney router` as processes of their own;
    `embedded`: the API as its own process, the workers, projections and router in this one."""
    if layout == "production":
        async with production_processes(tmp, temporal.client, settings, profile) as children:
            readers = {
                "api": children.api.cpu_seconds,
                "worker": children.worker.cpu_seconds,
                "router": children.router.cpu_seconds,
                "standin_and_load": own_cpu_seconds,
            }
            pids = {
                process.process.pid: name
                for name, process in (("router", children.router), ("worker", children.worker))
                if process.process is not None
            }
            yield System(children.api.url, readers, pids)
        return
    api = ApiProcess(dict(os.environ), 1, tmp / "api.log")
    await asyncio.to_thread(api.start)
    side = WorkerSide(engine, temporal.client, settings, route=True)
    stop = asyncio.Event()
    running = asyncio.create_task(side.run(stop))
    try:
        own = {"api": api.cpu_seconds, "workers_router_standin_and_load": own_cpu_seconds}
        yield System(api.url, own, {os.getpid(): "workers_router_standin_and_load"})
    finally:
        stop.set()
        await running
        await asyncio.to_thread(api.stop)


async def run(
    rate: float,
    seconds: float,
    profile: Path | None = None,
    tuning: TemporalTuning = TemporalTuning(),
    layout: str = "production",
) -> dict[str, Any]:
    count = max(1, round(rate * seconds))
    with tempfile.TemporaryDirectory(prefix="gridjourney-bench-latency-") as tmp_name:
        tmp = Path(tmp_name)
        async with servers(tmp, tuning) as (settings, engine, temporal, pg_pid):
            standin = TwilioStandIn(
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token.get_secret_value(),
            )
            await standin.start()
            os.environ["GRIDJOURNEY_TWILIO_BASE_URL"] = standin.base_url
            os.environ["GRIDJOURNEY_TEMPORAL_ADDRESS"] = temporal.client.service_client.config.target_host
            settings = Settings()
            await registry.publish(engine, LATENCY_JOURNEY, "bench_latency_sms.yaml", settings.templates_dir)
            _, key = await create_key(engine, "bench", ["events:write"])
            headers = {"Authorization": f"Bearer {key}"}
            try:
                async with (
                    system(layout, tmp, temporal, engine, settings, profile) as under_load,
                    httpx.AsyncClient(base_url=under_load.api_url, headers=headers, timeout=60) as api,
                ):
                    await seed_customers(api, count)
                    await settled(engine)
                    temporal_pid = temporal_server_pid()
                    cpu = Cpu(
                        **under_load.cpu_readers,
                        postgres=lambda: tree_cpu_seconds(pg_pid),
                        temporal=lambda: tree_cpu_seconds(temporal_pid) if temporal_pid else 0.0,
                    )
                    threads_before = thread_cpu_seconds()
                    head_before = await log_head(engine)
                    # this process's event loop thread (the stand-in and the load): its own CPU time
                    profiler = cProfile.Profile(time.thread_time) if profile else None
                    if profiler is not None:
                        profiler.enable()
                    sent_at, statuses = await fire(api, rate, count)
                    await received_all(standin, count)
                    spent = cpu.spent()
                    if profiler is not None and profile is not None:
                        profiler.disable()
                        profiler.dump_stats(profile)
                    threads = {
                        group: round(seconds - threads_before.get(group, 0.0), 3)
                        for group, seconds in thread_cpu_seconds().items()
                    }
                    received_at = {m.to: m.received_at.timestamp() for m in standin.received}
                    milestones, first_tasks = await stages(
                        engine,
                        temporal.client,
                        sent_at,
                        received_at,
                        {phone(n): customer_id(n) for n in range(count)},
                    )
                    appended = await appended_per_sms(engine, head_before, len(received_at))
                    # eager start: the first task taken by the process that started the journey
                    first_task_by = Counter(
                        under_load.processes.get(int(identity.split("@", 1)[0] or 0), identity)
                        for identity in first_tasks
                    )
            finally:
                await standin.stop()
            latencies = sorted(
                m.received_at.timestamp() - sent_at[m.to] for m in standin.received if m.to in sent_at
            )
    return {
        "layout": layout,
        "events_posted": count,
        "rate_per_second": rate,
        "seconds": seconds,
        "posts_refused": sum(s >= 300 for s in statuses),
        "sms_received": len(latencies),
        "latency_ms": {f"p{p}": percentile_ms(latencies, p) for p in (50, 90, 99)}
        | {"max": percentile_ms(latencies, 100)},
        "cpu_seconds": spent,
        "cpu_ms_per_sms": {
            name: round(1000 * seconds / len(latencies), 1) if latencies else None
            for name, seconds in spent.items()
        },
        "bench_process_cpu_seconds_by_thread": threads,
        "milestones_ms_after_post": milestones,
        "events_appended_per_sms": appended,
        "first_workflow_task_by": dict(first_task_by),
        "temporal_tuning": tuning.figures(),
    }


def temporal_server_pid() -> int | None:
    """The Temporal dev server this process started (a child named `temporal`)."""
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.name().startswith("temporal"):
                return int(child.pid)
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20.0, help="events posted per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds of posting")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="where the JSON is saved")
    parser.add_argument(
        "--profile",
        type=Path,
        help="cProfile this process's event loop while posting (pstats file), and each child process "
        "for its life beside it (PATH-api.<pid>, PATH-worker, PATH-router)",
    )
    parser.add_argument(
        "--temporal-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a dynamic config value for the Temporal dev server (repeatable), e.g. "
        "matching.numTaskqueueReadPartitions=1",
    )
    parser.add_argument("--temporal-gogc", type=int, help="GOGC for the Temporal dev server's process")
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="production",
        help="production: the API, a worker and a router as processes; embedded: the workers and the "
        "router in this process (as `gridjourney run`), the API its own",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    if any("=" not in value for value in args.temporal_config):
        parser.error("--temporal-config takes KEY=VALUE")
    if args.temporal_gogc is not None and args.temporal_gogc <= 0:
        parser.error("--temporal-gogc must be positive")
    tuning = TemporalTuning(tuple(args.temporal_config), args.temporal_gogc)
    load_before = os.getloadavg()
    # uvloop, as the production worker and router processes run (gridjourney/worker.py)
    figures = uvloop.run(run(args.rate, args.seconds, args.profile, tuning, args.layout))
    figures |= {
        "goals_ms": GOALS_MS,
        "baseline_ms": BASELINE_MS,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }
    print(report(stamped(figures)))
    save(figures, args.results, "latency")


def report(figures: dict[str, Any]) -> str:
    lat = figures["latency_ms"]
    return "\n".join(
        [
            f"POST -> SMS at the stand-in ({figures['layout']} layout), "
            f"{figures['rate_per_second']} events/s for {figures['seconds']} s: "
            f"{figures['sms_received']}/{figures['events_posted']} SMS received, "
            f"{figures['posts_refused']} POSTs refused",
            f"latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}",
            f"baseline: p50 {BASELINE_MS['p50']}, p90 {BASELINE_MS['p90']}; "
            f"goals: p50 <= {GOALS_MS['p50']}, p99 <= {GOALS_MS['p99']}",
            "CPU s: " + ", ".join(f"{k} {v}" for k, v in figures["cpu_seconds"].items()),
            "CPU ms per SMS by process (standin_and_load or workers_router_standin_and_load: this "
            "benchmark's own): " + ", ".join(f"{k} {v}" for k, v in figures["cpu_ms_per_sms"].items()),
            "bench process CPU s by thread: "
            + ", ".join(f"{k} {v}" for k, v in figures["bench_process_cpu_seconds_by_thread"].items()),
            "first workflow task taken by (sampled journeys): "
            + ", ".join(f"{k} {v}" for k, v in figures["first_workflow_task_by"].items()),
            "events appended per SMS (the trigger included): "
            + ", ".join(f"{k} {v}" for k, v in figures["events_appended_per_sms"].items()),
            "milestones, ms after the POST (p50 / p90):",
            *(
                f"  {name:<32} {at['p50']:>9} / {at['p90']}"
                for name, at in figures["milestones_ms_after_post"].items()
            ),
            f"Temporal tuning: {figures['temporal_tuning']}",
            f"load average before/after: {figures['load_average_before']} / {figures['load_average_after']}",
        ]
    )


if __name__ == "__main__":
    as_production_process()
    main()
