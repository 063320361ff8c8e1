"""Ingest throughput of `POST /v1/events`: batches of 1,000 events and single-event requests, from an
async load generator (bench/http_load.py: keep-alive HTTP/1.1 connections, bounded concurrency; httpx
took a core of its own), against the API as its own process (uvicorn with 1 and 2 workers, as
production runs it).

    gridjourney bench ingest [--seconds 10] [--workers 1,2] [--profile ingest.prof]

Only the API and Postgres run: no router or workers read the events meanwhile. The machine may be
shared: the load average and the CPU seconds of each process are saved beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import psycopg

from bench.api_process import PROFILE_ENV, ApiProcess
from bench.http_load import Connection
from bench.saving import save, stamped
from gridjourney.api.auth import MAX_RATE_PER_SECOND, create_key
from gridjourney.config import Settings
from gridjourney.db.engine import create_engine
from gridjourney.db.migrate import upgrade
from gridjourney.devstack import postgres_database_url, start_postgres
from gridjourney.privacy.customer_keys import keys_for_writing
from gridjourney.privacy.keyring import generate_key, keyring_from_settings

RESULTS_DIR = Path(__file__).parent / "results"
CHECKOUT = Path(__file__).resolve().parents[1]
BATCH = 1_000
BATCH_CONCURRENCY = 4
SINGLE_CONCURRENCY = 32
WARM_UP_S = 1.0
TRANSPORT_ERROR = 0  # the status counted for a request whose connection failed
# Each request's number replaces this first group of its events' event_id (all new events: no duplicates).
REQUEST_MARK = "ffffffff"
# Known customers, whose data keys exist before the clock starts (as in production, where their
# customer.created came first): the first event of a customer would also create and wrap its key.
CUSTOMERS = 1_000


def customer_id(n: int) -> str:
    return f"C-{n:06d}"


def bill_projection(n: int) -> dict[str, Any]:
    """One event as a billing system posts it (no personal data: nothing to encrypt)."""
    return {
        "event_id": f"{REQUEST_MARK}{str(uuid.uuid4())[8:]}",
        "type": "bill.projection_updated",
        "customer_id": customer_id(n % CUSTOMERS),
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "billing",
        "payload": {"projected_amount": 182.4, "typical_amount": 121.0, "days_left": 12, "currency": "USD"},
    }


@dataclass
class Load:
    """One mode's load: `size` events per request, `concurrency` requests in flight."""

    name: str
    size: int
    concurrency: int

    def body(self, n: int) -> bytes:
        if self.size == 1:
            return json.dumps(bill_projection(n)).encode()
        return json.dumps({"events": [bill_projection(n * self.size + i) for i in range(self.size)]}).encode()


LOADS = (Load("batched", BATCH, BATCH_CONCURRENCY), Load("single", 1, SINGLE_CONCURRENCY))


async def drive(
    url: str, key: str, load: Load, seconds: float, cpu_readers: dict[str, Callable[[], float]] | None = None
) -> dict[str, Any]:
    """Post `load` for `seconds` (after a warm-up that is not counted); requests/s, events/s, the
    request latency percentiles and the CPU seconds each of `cpu_readers` counted in those seconds.
    Bodies are made ahead of the clock (the generator's JSON is not the API's cost); any answer but
    201 is counted as an error."""
    bodies = [load.body(n) for n in range(max(64, load.concurrency * 4))]
    latencies: list[float] = []
    errors: Counter[int] = Counter()
    counting = False
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connections = [Connection(url, "/v1/events", headers) for _ in range(load.concurrency)]
    deadline = time.perf_counter() + WARM_UP_S + seconds

    async def one_client(worker: int) -> None:
        n = worker
        connection = connections[worker]
        while time.perf_counter() < deadline:
            body = bodies[n % len(bodies)].replace(REQUEST_MARK.encode(), f"{n:08x}".encode())
            n += load.concurrency
            started = time.perf_counter()
            try:
                status = await connection.post(body)
            except (ConnectionError, asyncio.IncompleteReadError):  # counted, and the run goes on
                status = TRANSPORT_ERROR
            if counting:
                latencies.append(time.perf_counter() - started)
                errors[status] += status != 201

    async def clock() -> tuple[float, dict[str, float]]:
        nonlocal counting
        await asyncio.sleep(WARM_UP_S)
        counting = True
        cpu = Cpu(**(cpu_readers or {}))
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        return time.perf_counter() - started, cpu.spent()

    try:
        timing = asyncio.create_task(clock())
        await asyncio.gather(*(one_client(w) for w in range(load.concurrency)))
        elapsed, cpu_seconds = await timing
        elapsed = max(elapsed, 1e-9)
    finally:
        for connection in connections:
            await connection.close()
    latencies.sort()
    ok = len(latencies) - errors.total()
    return {
        "events_per_request": load.size,
        "concurrency": load.concurrency,
        "requests": len(latencies),
        "errors": errors.total(),
        "errors_by_status": {str(code): count for code, count in errors.items() if count},
        "requests_per_second": round(ok / elapsed, 1),
        "events_per_second": round(ok * load.size / elapsed, 1),
        "latency_ms": {f"p{p}": percentile_ms(latencies, p) for p in (50, 90, 99)},
        "cpu_seconds": cpu_seconds,
    }


def percentile_ms(sorted_seconds: list[float], p: int) -> float | None:
    """The p-th percentile (nearest rank) of sorted durations, in milliseconds."""
    if not sorted_seconds:
        return None
    rank = max(0, min(len(sorted_seconds) - 1, round(p / 100 * len(sorted_seconds)) - 1))
    return round(sorted_seconds[rank] * 1000, 1)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process, its live children and the children it has reaped (Postgres backends)."""
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        parent = psutil.Process(pid)
        times = parent.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in parent.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                t = child.cpu_times()
                total += t.user + t.system
    return total


def own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


class Cpu:
    """CPU seconds used by each process during one measured block."""

    def __init__(self, **readers: Any) -> None:
        self.readers = readers
        self.start = {name: read() for name, read in readers.items()}

    def spent(self) -> dict[str, float]:
        return {name: round(read() - self.start[name], 3) for name, read in self.readers.items()}


@contextlib.asynccontextmanager
async def postgres(tmp: Path) -> AsyncIterator[tuple[str, int]]:
    """(the database URL, the postmaster's pid) of a fresh migrated database."""
    server = start_postgres(tmp / "pg")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        url = postgres_database_url(server.get_uri(), "bench")
        upgrade(url)
        pid = int((tmp / "pg" / "postmaster.pid").read_text().splitlines()[0])
        yield url, pid
    finally:
        server.cleanup()


async def measure_process(
    url: str, key: str, env: dict[str, str], workers: int, seconds: float, pg_pid: int, log: Path
) -> dict[str, Any]:
    api = ApiProcess(env, workers, log)
    api.start()
    try:
        figures: dict[str, Any] = {}
        readers = {
            "api": api.cpu_seconds,
            "postgres": lambda: tree_cpu_seconds(pg_pid),
            "load_generator": own_cpu_seconds,
        }
        for load in LOADS:
            mode = figures[load.name] = await drive(api.url, key, load, seconds, readers)
            spent = mode["cpu_seconds"]
            # What the figures would be with the cores to ourselves: the machine is shared.
            done = mode["requests"] - mode["errors"]
            mode["api_cpu_ms_per_request"] = round(1000 * spent["api"] / done, 3) if done else None
            mode["postgres_cpu_ms_per_request"] = round(1000 * spent["postgres"] / done, 3) if done else None
            mode["events_per_api_cpu_second"] = (
                round(done * load.size / spent["api"], 1) if spent["api"] else None
            )
            # Two cores for the API and Postgres alone (the load generator on other machines).
            server_cpu = spent["api"] + spent["postgres"]
            mode["two_core_ceiling_events_per_second"] = (
                round(2 * done * load.size / server_cpu) if server_cpu else None
            )
        return figures
    finally:
        await asyncio.to_thread(api.stop)


async def run(seconds: float, workers: list[int], profile: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gridjourney-bench-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        async with postgres(tmp) as (url, pg_pid):
            env = {
                **os.environ,
                "GRIDJOURNEY_DATABASE_URL": url,
                "GRIDJOURNEY_HOME": str(tmp / "home"),
                "GRIDJOURNEY_TEMPLATES_DIR": str(CHECKOUT / "templates"),
                "GRIDJOURNEY_ENCRYPTION_KEYS": json.dumps({"bench": generate_key()}),
            }
            os.environ.update({k: v for k, v in env.items() if k.startswith("GRIDJOURNEY_")})
            engine = create_engine(url)
            # Its own rate, far above the default per-key limit: the API's speed is measured, not the limit.
            _, key = await create_key(engine, "bench", ["events:write"], rate_per_second=MAX_RATE_PER_SECOND)
            async with engine.begin() as conn:
                keyring = keyring_from_settings(Settings())
                await keys_for_writing(conn, keyring, [customer_id(n) for n in range(CUSTOMERS)])
            await engine.dispose()
            runs: dict[str, Any] = {}
            for count in workers:
                run_env = dict(env)
                if profile is not None and count == workers[0]:
                    run_env[PROFILE_ENV] = str(profile)
                runs[f"process_{count}_worker{'s' * (count > 1)}"] = await measure_process(
                    url, key, run_env, count, seconds, pg_pid, tmp / f"api-{count}.log"
                )
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per mode and variant")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to measure, e.g. 1,2")
    parser.add_argument("--profile", type=Path, help="cProfile the first API process: PROFILE.<pid>")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="where the JSON is saved")
    args = parser.parse_args(argv)
    try:
        workers = [int(w) for w in args.workers.split(",")]
        if not workers or min(workers) < 1:
            raise ValueError
    except ValueError:
        parser.error(f"--workers must list worker counts of 1 or more, e.g. 1,2 (got {args.workers!r})")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    load_before = os.getloadavg()
    runs = asyncio.run(run(args.seconds, workers, args.profile))
    figures = {
        "runs": runs,
        "goals": {"batched_events_per_second": 20_000, "single_requests_per_second": 1_000},
        "baseline": {"batched_events_per_second": 2_959, "single_requests_per_second": 160},
        "seconds_per_mode": args.seconds,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }
    print(report(stamped(figures)))
    save(figures, args.results, "ingest")


def report(figures: dict[str, Any]) -> str:
    head = (
        f"{'API':<20}{'mode':<9}{'events/s':>10}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
        f"{'API CPU ms/req':>15}{'PG CPU ms/req':>14}{'2-core ceiling/s':>17}  CPU s"
    )
    lines = [head]
    for variant, modes in figures["runs"].items():
        for mode, m in modes.items():
            cpu = ", ".join(f"{k} {v}" for k, v in m["cpu_seconds"].items())
            lines.append(
                f"{variant:<20}{mode:<9}{m['events_per_second']:>10}{m['requests_per_second']:>8}"
                f"{m['latency_ms']['p50']!s:>8}{m['latency_ms']['p99']!s:>8}{m['errors']:>7}"
                f"{m['api_cpu_ms_per_request']!s:>15}{m['postgres_cpu_ms_per_request']!s:>14}"
                f"{m['two_core_ceiling_events_per_second']!s:>17}  {cpu}"
            )
    base, goal = figures["baseline"], figures["goals"]
    lines.append(
        f"baseline: batched {base['batched_events_per_second']} events/s, single "
        f"{base['single_requests_per_second']} req/s; goals: {goal['batched_events_per_second']} events/s, "
        f"{goal['single_requests_per_second']} req/s (2-core ceiling: events/s if the API and Postgres "
        "had both cores, from their CPU per request)"
    )
    lines.append(
        f"load average before/after: {figures['load_average_before']} / {figures['load_average_after']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
