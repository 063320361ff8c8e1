"""Chaos benchmark of the send ledger: the send worker is killed with SIGKILL while journeys send.

Real Temporal (the dev server), real Postgres and the Twilio SMS stand-in (in this process, so what it
receives survives the kills). The journey worker runs here; the send worker is its own process,
`gridjourney worker --queues send`, killed and restarted during every trial. Half the trials kill at
random moments; the other half aim: they poll send_ledger and kill as soon as an attempt holds a row
(`claimed` or `calling`), the window random kills rarely hit. Each trial sends `--messages` messages
(half informational, half marketing: the purposes a crash used to lose or misrecord) to
`--customers` customers, every message with its own body.

    gridjourney bench chaos [--trials 4] [--messages 60] [--customers 20] [--kills 2]

Counted per trial, from the stand-in's receipts (each carries its key in the status callback URL)
and the ledger: duplicates (receipts of one key beyond the first), lost (messages with no receipt
that the ledger does not record as deliberately not sent), ambiguous (rows held for an operator),
misrecorded (received, but the ledger says otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.chaos_setup import BENCH_POLICY, TEMPLATE, add_customers, chaos_journey
from bench.saving import save, stamped
from gridjourney.db.tables import send_ledger

RESULTS_DIR = Path(__file__).parent / "results"
GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"
LEASE = "PT5S"  # the send worker's claim lease: short, so a killed worker's rows are taken over soon
WORKFLOW_TIMEOUT_S = 900.0


@dataclass
class Trial:
    number: int
    aimed: bool
    messages: int
    kills: int = 0
    kills_while_claimed: int = 0
    kills_while_sending: int = 0
    duplicates: int = 0
    lost: int = 0
    ambiguous: int = 0
    misrecorded: int = 0
    not_sent_on_purpose: int = 0
    attempts_max: int = 0
    seconds: float = 0.0
    ledger: dict[str, int] = field(default_factory=dict)


class SendWorker:
    """`gridjourney worker --queues send` as a child process, killed with SIGKILL and restarted."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(GRIDJOURNEY), "worker", "--queues", "send"], env=self.env, stdout=log, stderr=log
        )
        self.starts += 1

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


async def _live_rows(engine: AsyncEngine, journeys: list[str]) -> Counter[str]:
    """Rows of this trial an attempt holds right now, by status."""
    query = select(send_ledger.c.status).where(
        send_ledger.c.journey_id.in_(journeys),
        send_ledger.c.status.in_(("claimed", "sending", "calling")),
        send_ledger.c.owner.is_not(None),
    )
    async with engine.connect() as conn:
        return Counter(status for (status,) in await conn.execute(query))


async def _kill_when_held(
    engine: AsyncEngine, journeys: list[str], status: str, done: asyncio.Event
) -> Counter[str]:
    """Poll the ledger and return (the worker is killed then) as soon as an attempt holds a row in
    `status` (claimed: before the provider call; calling: around it)."""
    while not done.is_set():
        held = await _live_rows(engine, journeys)
        if held[status]:
            return held
        await asyncio.sleep(0.002)
    return Counter()


async def _sending_started(engine: AsyncEngine, journeys: list[str], done: asyncio.Event) -> None:
    query = select(send_ledger.c.idempotency_key).where(send_ledger.c.journey_id.in_(journeys)).limit(1)
    while not done.is_set():
        async with engine.connect() as conn:
            if (await conn.execute(query)).first() is not None:
                return
        await asyncio.sleep(0.05)


async def run_trial(
    number: int,
    aimed: bool,
    *,
    client: Client,
    engine: AsyncEngine,
    worker: SendWorker,
    standin_received: list[Any],
    settings_queues: tuple[str, str],
    customers: list[str],
    messages: int,
    kills: int,
    templates_dir: Path,
    rng: random.Random,
) -> Trial:
    from gridjourney.entry.starter import start_journey
    from gridjourney.workflows.contracts import EventRef

    trial = Trial(number=number, aimed=aimed, messages=messages)
    tag = uuid.uuid4().hex[:6]
    journeys = {
        purpose: chaos_journey(f"chaos_{tag}_{purpose}", purpose, templates_dir)
        for purpose in ("informational", "marketing")
    }
    journey_ids = [j.journey_id for j in journeys.values()]
    task_queue, send_queue = settings_queues
    started = time.perf_counter()
    handles: list[WorkflowHandle[Any, Any]] = []
    for n in range(messages):
        journey = journeys["informational" if n % 2 == 0 else "marketing"]
        customer = customers[n % len(customers)]
        trigger = EventRef(
            event_id=str(uuid.uuid4()),
            type="customer.updated",
            customer_id=customer,
            occurred_at=datetime.now(UTC),
            payload={"attributes": {"check": f"{tag}-{n}"}},
            position=n + 1,
        )
        result = await start_journey(
            client, journey, customer, trigger, task_queue=task_queue, send_task_queue=send_queue
        )
        handles.append(client.get_workflow_handle(result.workflow_id))
    all_done = asyncio.Event()
    waiting = asyncio.create_task(
        asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), WORKFLOW_TIMEOUT_S)
    )
    waiting.add_done_callback(lambda _: all_done.set())
    for kill in range(kills):
        if aimed:
            aim = "claimed" if kill % 2 == 0 else "calling"
            held = await _kill_when_held(engine, journey_ids, aim, all_done)
        else:
            # A random moment once sending has begun (before it, a kill only delays the start).
            await _sending_started(engine, journey_ids, all_done)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_done.wait(), rng.uniform(0.0, 3.0))
            held = Counter() if all_done.is_set() else await _live_rows(engine, journey_ids)
        if all_done.is_set():
            break
        worker.kill()
        trial.kills += 1
        trial.kills_while_claimed += held["claimed"] > 0
        trial.kills_while_sending += held["sending"] + held["calling"] > 0
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        worker.start()
    await waiting
    trial.seconds = round(time.perf_counter() - started, 1)
    await _count(trial, engine, journey_ids, standin_received, messages)
    return trial


async def _count(
    trial: Trial, engine: AsyncEngine, journey_ids: list[str], received: list[Any], expected: int
) -> None:
    query = select(send_ledger.c.idempotency_key, send_ledger.c.status, send_ledger.c.attempts).where(
        send_ledger.c.journey_id.in_(journey_ids)
    )
    async with engine.connect() as conn:
        rows = {key: (status, attempts) for key, status, attempts in await conn.execute(query)}
    receipts = Counter(
        key
        for message in received
        if message.status_callback
        and (key := parse_qs(urlsplit(message.status_callback).query).get("key", [""])[0]) in rows
    )
    trial.ledger = dict(Counter(status for status, _ in rows.values()))
    trial.attempts_max = max((attempts for _, attempts in rows.values()), default=0)
    trial.duplicates = sum(count - 1 for count in receipts.values() if count > 1)
    trial.ambiguous = sum(status == "ambiguous" for status, _ in rows.values())
    trial.not_sent_on_purpose = sum(
        status in ("suppressed", "failed") and key not in receipts for key, (status, _) in rows.items()
    )
    trial.misrecorded = sum(rows[key][0] != "sent" for key in receipts)
    trial.lost = expected - len(receipts) - trial.not_sent_on_purpose


async def run(trials: int, messages: int, customers: int, kills: int, seed: int) -> dict[str, Any]:
    from gridjourney.activities import JourneyActivities
    from gridjourney.channels.registry import build_senders, close_senders
    from gridjourney.channels.twilio_standin import TwilioStandIn
    from gridjourney.config import Settings
    from gridjourney.db.engine import create_engine
    from gridjourney.db.migrate import upgrade
    from gridjourney.devstack import postgres_database_url, start_postgres
    from gridjourney.privacy.keyring import generate_key
    from gridjourney.temporal import SEARCH_ATTRIBUTE_KEYS, data_converter, temporal_cli_path
    from gridjourney.workflows.journey import JourneyWorkflow

    rng = random.Random(seed)
    results: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="gridjourney-chaos-") as tmp_name:
        tmp = Path(tmp_name)
        templates_dir = tmp / "templates"
        (templates_dir / "sms" / "en").mkdir(parents=True)
        (templates_dir / "sms" / "en" / "chaos.j2").write_text(TEMPLATE)
        (tmp / "policy.yaml").write_text(BENCH_POLICY)
        run_id = uuid.uuid4().hex[:6]
        env = {
            "GRIDJOURNEY_HOME": str(tmp / "home"),
            "GRIDJOURNEY_ENCRYPTION_KEYS": json.dumps({"chaos": generate_key()}),
            "GRIDJOURNEY_TEMPLATES_DIR": str(templates_dir),
            "GRIDJOURNEY_POLICY_FILE": str(tmp / "policy.yaml"),
            "GRIDJOURNEY_SEND_CLAIM_LEASE": LEASE,
            "GRIDJOURNEY_TASK_QUEUE": f"chaos-{run_id}",
            "GRIDJOURNEY_SEND_TASK_QUEUE": f"chaos-send-{run_id}",
            "GRIDJOURNEY_SEND_RATE_PER_SECOND": "1000",
            "GRIDJOURNEY_SCORING_SCHEDULE": "false",
        }
        os.environ.update(env)  # this process shares the keys, templates and policy with the worker
        server = start_postgres(tmp / "pg")
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE chaos")
        url = postgres_database_url(server.get_uri(), "chaos")
        upgrade(url)
        settings = Settings()
        engine = create_engine(url)
        temporal = await WorkflowEnvironment.start_local(
            data_converter=data_converter(settings),
            search_attributes=SEARCH_ATTRIBUTE_KEYS,
            dev_server_existing_path=str(temporal_cli_path()),
            dev_server_log_level="never",  # its warnings about the killed worker's calls are expected
        )
        standin = TwilioStandIn(
            account_sid=settings.twilio_account_sid, auth_token=settings.twilio_auth_token.get_secret_value()
        )
        await standin.start()
        settings = settings.model_copy(update={"twilio_base_url": standin.base_url})
        worker_env = {
            **os.environ,
            "GRIDJOURNEY_DATABASE_URL": url,
            "GRIDJOURNEY_TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host,
            "GRIDJOURNEY_TWILIO_BASE_URL": standin.base_url,
        }
        send_worker = SendWorker(worker_env, tmp / "send-worker.log")
        senders = build_senders(settings, engine)
        try:
            customer_ids = await add_customers(engine, customers)
            activities = JourneyActivities(engine, settings, senders)
            journeys_worker = Worker(
                temporal.client,
                task_queue=settings.task_queue,
                workflows=[JourneyWorkflow],
                activities=activities.journey_activities,
                workflow_runner=UnsandboxedWorkflowRunner(),
            )
            async with journeys_worker:
                send_worker.start()
                for number in range(trials):
                    trial = await run_trial(
                        number + 1,
                        aimed=number % 2 == 1,
                        client=temporal.client,
                        engine=engine,
                        worker=send_worker,
                        standin_received=standin.received,
                        settings_queues=(settings.task_queue, settings.send_task_queue),
                        customers=customer_ids,
                        messages=messages,
                        kills=kills,
                        templates_dir=templates_dir,
                        rng=rng,
                    )
                    results.append(trial)
                    _print_trial(trial)
        finally:
            send_worker.stop()
            await close_senders(senders)
            await standin.stop()
            await temporal.shutdown()
            await engine.dispose()
            server.cleanup()
    return _summary(results, customers, kills, seed)


def _print_trial(trial: Trial) -> None:
    kind = "aimed" if trial.aimed else "random"
    print(
        f"{trial.number:>5} {kind:<7}{trial.messages:>9}{trial.kills:>6}{trial.kills_while_claimed:>9}"
        f"{trial.kills_while_sending:>9}{trial.duplicates:>11}{trial.lost:>6}{trial.ambiguous:>10}"
        f"{trial.misrecorded:>12}{trial.attempts_max:>13}{trial.seconds:>9}",
        flush=True,
    )


def _summary(results: list[Trial], customers: int, kills: int, seed: int) -> dict[str, Any]:
    def total(name: str) -> int:
        return sum(getattr(trial, name) for trial in results)

    return {
        "trials": len(results),
        "messages": total("messages"),
        "customers": customers,
        "kills_per_trial": kills,
        "kills": total("kills"),
        "kills_while_claimed": total("kills_while_claimed"),
        "kills_while_sending": total("kills_while_sending"),
        "duplicates": total("duplicates"),
        "lost": total("lost"),
        "ambiguous": total("ambiguous"),
        "misrecorded": total("misrecorded"),
        "not_sent_on_purpose": total("not_sent_on_purpose"),
        "seed": seed,
        "per_trial": [asdict(trial) for trial in results],
    }


HEADER = (
    f"{'trial':>5} {'kills':<7}{'messages':>9}{'kills':>6}{'claimed':>9}{'sending':>9}{'duplicates':>11}"
    f"{'lost':>6}{'ambiguous':>10}{'misrecorded':>12}{'max attempts':>13}{'seconds':>9}"
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=4, help="trials; every second one aims its kills")
    parser.add_argument("--messages", type=int, default=60, help="messages per trial")
    parser.add_argument("--customers", type=int, default=20, help="customers the messages go to")
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs of the send worker per trial")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random kill moments")
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    figures = asyncio.run(run(args.trials, args.messages, args.customers, args.kills, args.seed))
    stamped(figures)
    print(
        f"trials {figures['trials']}  messages {figures['messages']}  kills {figures['kills']} "
        f"({figures['kills_while_claimed']} while a row was claimed, {figures['kills_while_sending']} while "
        f"sending)  duplicates {figures['duplicates']}  lost {figures['lost']}  ambiguous "
        f"{figures['ambiguous']}  misrecorded {figures['misrecorded']}  not sent on purpose "
        f"{figures['not_sent_on_purpose']}"
    )
    save(figures, RESULTS_DIR, "chaos")
    failed = figures["duplicates"] or figures["lost"] or figures["misrecorded"]
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
