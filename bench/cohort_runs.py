"""The cohort benchmark's phases: throughput (the cohort path beside the per-customer path), the
shared SMS rate limit with two send workers, and a SIGKILL of the send worker mid-step.

Times are wall-clock: from the moment the run is asked for (the dr.event_scheduled append, or the
first per-customer start) to the last provider request the stand-ins answered."""

from __future__ import annotations

import asyncio
import cProfile
import random
import resource
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.chaos import SendWorker
from bench.cohort_seed import Population
from bench.cohort_stack import KILL_LEASE, Bench, worker_side
from bench.cohort_standins import CHANNELS, Receipts, cpu_seconds_of, tree_cpu_seconds
from gridjourney.channels.push import topic
from gridjourney.entry.starter import start_journey
from gridjourney.stack import QUEUES
from gridjourney.workflows.contracts import EventRef

STEP = "day_ahead_notice"
# Per-customer workflows in flight at once. Unbounded, 2,000 of them overload the one worker until
# its send activities time out, and a push whose outcome is then unknown is held for an operator
# (Web Push has no look-up): the path never finishes. Bounded, it runs at its best pace.
IN_FLIGHT = 200
PER_CUSTOMER_TIMEOUT_S = 1800.0


def _since(before: Receipts, after: Receipts) -> Receipts:
    """What the stand-ins received between two snapshots (their lists only grow)."""
    return Receipts(
        {c: after.request_times[c][len(before.request_times[c]) :] for c in CHANNELS},
        {c: after.keys[c][len(before.keys[c]) :] for c in CHANNELS},
    )


def _delivery_figures(received: Receipts, started_at: float) -> dict[str, Any]:
    messages = sum(received.messages().values())
    last = received.last_time()
    seconds = (last - started_at) if last is not None else float("nan")
    return {
        "messages": messages,
        "per_channel": received.messages(),
        "provider_requests": received.requests(),
        "seconds_to_last_message": round(seconds, 2),
        "messages_per_second": round(messages / seconds, 1) if seconds > 0 else 0.0,
        "seconds_to_last_by_channel": {
            c: round(max(times) - started_at, 2) for c, times in received.request_times.items() if times
        },
    }


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def throughput(
    bench: Bench,
    cohort: Population,
    per_customer: Population,
    journey: Any,
    send_workers: int = 2,
    profile: Path | None = None,
) -> dict[str, Any]:
    """The per-customer slice, then the cohort path. `send_workers`: `gridjourney worker --queues
    send` processes serving the send queue for both paths alike (0: this process serves it).
    `profile`: cProfile this process (workflows, router, projections, and the sends when served here)
    during the cohort path and save the stats there; each send worker saves its own beside it
    (cohort_stack.py `profiled_as`). The figures are then slower than without."""
    settings = bench.phase_settings("throughput")
    queues = QUEUES if send_workers == 0 else QUEUES - {"send"}
    async with worker_side(bench, settings, queues):
        async with bench.send_workers("throughput", send_workers):
            slice_figures = await _per_customer_path(bench, per_customer, journey)
        await bench.settled()
        # New send workers for the cohort path: their CPU and profiles are the cohort path's alone.
        async with bench.send_workers("throughput", send_workers, profile) as workers:
            if profile is None:
                cohort_figures = await _cohort_path(bench, cohort, workers)
            else:
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
                cohort_figures = await _cohort_path(bench, cohort, workers)
                profiler.disable()
                profiler.dump_stats(profile)
    return {"send_workers": send_workers, "per_customer": slice_figures, "cohort": cohort_figures}


async def _per_customer_path(bench: Bench, population: Population, journey: Any) -> dict[str, Any]:
    settings = bench.phase_settings("throughput")
    now = datetime.now(UTC)
    start = (now + timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)
    payload = {
        "dr_event_id": f"bench-per-customer-{uuid.uuid4().hex[:6]}",
        "program": population.program,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=3)).isoformat(),
    }
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def one(n: int) -> None:
        customer_id = population.customer_id(n)
        trigger = EventRef(
            event_id=str(uuid.uuid4()),
            type="dr.event_scheduled",
            customer_id=customer_id,
            occurred_at=now,
            payload=payload,
            position=n + 1,
        )
        async with in_flight:
            result = await start_journey(
                bench.client,
                journey,
                customer_id,
                trigger,
                task_queue=settings.task_queue,
                send_task_queue=settings.send_task_queue,
            )
            await bench.client.get_workflow_handle(result.workflow_id).result()

    before = await bench.standins.receipts()
    started_at = time.time()
    runs = [asyncio.create_task(one(n)) for n in range(population.count)]
    done, unfinished = await asyncio.wait(runs, timeout=PER_CUSTOMER_TIMEOUT_S)
    for run in unfinished:
        run.cancel()  # (their workflows go on; what reached the stand-ins is counted)
    finished_at = time.time()
    received = _since(before, await bench.standins.receipts())
    figures = _delivery_figures(received, started_at)
    figures |= {
        "members": population.count,
        "workflows_seconds": round(finished_at - started_at, 2),
        "workflows_in_flight": IN_FLIGHT,
        "workflows_unfinished": len(unfinished),
        "workflows_failed": sum(1 for run in done if run.exception() is not None),
    }
    figures["peak_rss_mb"] = _peak_rss_mb()
    return figures


async def _cohort_path(bench: Bench, population: Population, workers: list[SendWorker]) -> dict[str, Any]:
    cpu_before = _cpu_seconds(bench, workers)
    postgres_before = await bench.postgres_activity()
    tables_before = await bench.table_rows()
    before = await bench.standins.receipts()
    run_id, appended_at = await bench.schedule_dr_event(population.program)
    state = await bench.finished(run_id)
    finished_at = time.time()
    received = _since(before, await bench.standins.receipts())
    figures = _delivery_figures(received, appended_at)
    cpu = {
        part: round(seconds - cpu_before[part], 2) for part, seconds in _cpu_seconds(bench, workers).items()
    }
    requests = sum(received.requests().values())
    figures |= {
        "run_id": run_id,
        "members": state.members,
        "outcomes": state.counts,
        "workflow_seconds": round(finished_at - appended_at, 2),
        "router_start_seconds": await bench.start_latency(run_id, appended_at),
        "peak_rss_mb": _peak_rss_mb(),
        "standins_cpu_seconds": cpu.get("standins"),
        "cpu_seconds": cpu,
        "cpu_ms_per_message": {
            part: round(1000 * seconds / max(figures["messages"], 1), 3) for part, seconds in cpu.items()
        },
        "standins_cpu_ms_per_request": (
            None if "standins" not in cpu else round(1000 * cpu["standins"] / max(requests, 1), 3)
        ),
    }
    figures["projections_caught_up_seconds"] = await _projected(
        bench, run_id, appended_at, figures["messages"]
    )
    await asyncio.sleep(11)  # a backend reports its counts when idle, within 10 s (PGSTAT_IDLE_INTERVAL)
    postgres = await bench.postgres_activity()
    per_message = 1 / max(figures["messages"], 1)
    figures["postgres_per_message"] = {
        name: round((count - postgres_before[name]) * per_message, 3) for name, count in postgres.items()
    }
    tables = {
        name: [
            round((n - b) * per_message, 2)
            for n, b in zip(counts, tables_before.get(name, (0,) * len(counts)), strict=True)
        ]
        for name, counts in (await bench.table_rows()).items()
    }
    # by table, per message: rows inserted, updated, updated in place (HOT); rows read by sequential
    # scans and fetched through indexes
    figures["postgres_table_writes_per_message"] = {n: c[:3] for n, c in tables.items() if any(c[:3])}
    figures["postgres_table_reads_per_message"] = {n: c[3:] for n, c in tables.items() if any(c[3:])}
    return figures


def _cpu_seconds(bench: Bench, workers: list[SendWorker]) -> dict[str, float]:
    """User + system CPU so far of this process, the stand-ins' process (when a child), the send
    workers together, Postgres and the Temporal dev server (on a shared machine, CPU is the figure
    that compares, not wall time)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    found = {"bench_process": usage.ru_utime + usage.ru_stime}
    standins = bench.standins.cpu_seconds()
    if standins is not None:
        found["standins"] = standins
    if workers:
        found["send_workers"] = sum(cpu_seconds_of(w.process.pid) for w in workers if w.process is not None)
    found["postgres"] = tree_cpu_seconds(bench.postgres_pid())
    temporal = bench.temporal_pid()
    if temporal is not None:
        found["temporal"] = tree_cpu_seconds(temporal)
    return found


async def _projected(
    bench: Bench, run_id: str, since: float, messages: int, timeout: float = 120
) -> float | None:
    """Seconds from the append until the messages projection shows every sent message of the run
    (None: not within `timeout` seconds after the run ended)."""
    query = text("SELECT count(*) FROM messages WHERE instance_id = :run AND status <> 'deferred'")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with bench.engine.connect() as conn:
            if int((await conn.execute(query, {"run": run_id})).scalar_one()) >= messages:
                return round(time.time() - since, 2)
        await asyncio.sleep(0.5)
    return None


async def rate_limited(bench: Bench, population: Population, rate: float) -> dict[str, Any]:
    """`population` (SMS-only) through two send worker processes sharing `rate` SMS/s."""
    settings = bench.phase_settings("rate")
    workers = [
        bench.send_worker("rate", f"send-{n}", GRIDJOURNEY_SMS_RATE_PER_SECOND=str(rate)) for n in (1, 2)
    ]
    async with worker_side(bench, settings, frozenset({"journeys"})):
        for worker in workers:
            worker.start()
        try:
            before = await bench.standins.receipts()
            run_id, _ = await bench.schedule_dr_event(population.program)
            state = await bench.finished(run_id)
            received = _since(before, await bench.standins.receipts())
        finally:
            for worker in workers:
                worker.stop()
    times = sorted(received.request_times["sms"])
    achieved = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {
        "members": state.members,
        "send_workers": len(workers),
        "configured_sms_per_second": rate,
        "sms_received": len(times),
        "seconds_first_to_last": round(times[-1] - times[0], 2) if times else None,
        "achieved_sms_per_second": round(achieved, 2),
        "deviation_percent": round(100 * (achieved - rate) / rate, 2),
        "outcomes": state.counts,
    }


async def killed(bench: Bench, population: Population, kills: int, seed: int) -> dict[str, Any]:
    """The send worker in its own process, SIGKILLed `kills` times during the step and restarted."""
    rng = random.Random(seed)
    settings = bench.phase_settings("kill")
    worker = bench.send_worker("kill", "send", GRIDJOURNEY_SEND_CLAIM_LEASE=KILL_LEASE)
    kill_points: list[int] = []
    async with worker_side(bench, settings, frozenset({"journeys"})):
        worker.start()
        try:
            before = await bench.standins.receipts()
            run_id, started_at = await bench.schedule_dr_event(population.program)
            done = asyncio.create_task(bench.finished(run_id))
            for k in range(kills):
                # spread the kills over the step: each somewhere in its share of the members
                aim = int(population.count * (k + rng.uniform(0.3, 0.7)) / (kills + 1))
                while not done.done() and await bench.ledger_rows(run_id) < aim:
                    await asyncio.sleep(0.02)
                if done.done():
                    break
                kill_points.append(await bench.ledger_rows(run_id))
                worker.kill()
                await asyncio.sleep(rng.uniform(0.2, 1.0))
                worker.start()
            state = await done
            finished_at = time.time()
            received = _since(before, await bench.standins.receipts())
        finally:
            worker.stop()
    figures = await _count(bench, run_id, population, received)
    figures |= {
        "members": state.members,
        "kills": len(kill_points),
        "killed_at_ledger_rows": kill_points,
        "seconds": round(finished_at - started_at, 1),
        "outcomes": state.counts,
    }
    return figures


async def _count(bench: Bench, run_id: str, population: Population, received: Receipts) -> dict[str, Any]:
    """Duplicates and lost messages from the stand-ins' receipts and the ledger (as bench/chaos.py)."""
    keys = [f"{run_id}:{STEP}:1:{population.customer_id(n)}" for n in range(population.count)]
    by_topic = {topic(key): key for key in keys}
    receipts = Counter(received.keys["sms"] + received.keys["email"])
    receipts.update(by_topic.get(t, t) for t in received.keys["push"])
    async with bench.engine.connect() as conn:
        found = await conn.execute(
            text("SELECT idempotency_key, status FROM send_ledger WHERE idempotency_key LIKE :p"),
            {"p": f"{run_id}:%"},
        )
        rows: dict[str, str] = {key: status for key, status in found}
    ours = [key for key in keys if key in receipts]
    not_sent_on_purpose = sum(rows.get(k) in ("suppressed", "failed") and k not in receipts for k in keys)
    # In doubt after a kill and not found by a look-up that can never answer (Web Push has none): held
    # in the ledger for an operator (`gridjourney sends resolve`), neither resent nor forgotten. Only
    # the requests in flight at the kill can be in doubt (activities/batch_calls.py).
    held = [k for k in keys if rows.get(k) == "ambiguous"]
    held_not_received = sum(1 for k in held if k not in receipts)
    channel_of = {key: channel for channel in ("sms", "email") for key in received.keys[channel]}
    channel_of |= {by_topic.get(t, t): "push" for t in received.keys["push"]}
    twice = sorted(k for k in ours if receipts[k] > 1)
    return {
        "duplicates": sum(receipts[k] - 1 for k in ours),
        "duplicates_by_channel": dict(Counter(channel_of[k] for k in twice)),
        "duplicated_keys": [(k, rows.get(k)) for k in twice[:20]],
        "lost": len(keys) - len(ours) - not_sent_on_purpose - held_not_received,
        "held_not_received": held_not_received,
        "held_but_received": len(held) - held_not_received,
        "ambiguous": sum(status == "ambiguous" for status in rows.values()),
        "misrecorded": sum(rows.get(k) not in ("sent", "ambiguous") for k in ours),
        "not_sent_on_purpose": not_sent_on_purpose,
        "ledger": dict(Counter(rows.values())),
    }
