"""The production topology as separate OS processes: the commands of docker-compose.yml (`migrate` and
`publish` once, then one API, two workers and two routers) against a Postgres database of their own
and the Temporal dev server, with SMS going to the Twilio stand-in.

Events posted through the API start each journey exactly once per trigger (an outage: one cohort run
of the outage notice, published here without its 5-minute hold, so the texts come at once), and
SIGKILL of the active router loses nothing and doubles nothing: the standby takes over within 10 s and
routes what was posted meanwhile.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
import pytest
import yaml
from temporalio.testing import WorkflowEnvironment

from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.devstack import postgres_database_url
from gridjourney.privacy.keyring import generate_key
from tests.integration.cohort_journeys import outage_notice_without_hold
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"
SERVICES: dict[str, dict[str, Any]] = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
ACCOUNT_SID = "ACtopology000000000000000000000000"
AUTH_TOKEN = "topology-token"
LEADS = "this process leads"
TAKEOVER_LIMIT_S = 10.0
_databases = (f"topology_{n}_{uuid.uuid4().hex[:6]}" for n in itertools.count())


def compose_command(service: str) -> list[str]:
    """The service's command in docker-compose.yml, run with this environment's `gridjourney`."""
    command = [str(arg) for arg in SERVICES[service]["command"]]
    assert command[0] == "gridjourney", command
    return [str(GRIDJOURNEY), *command[1:]]


@dataclass
class Topology:
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _files: list[IO[bytes]] = field(default_factory=list)

    def run_once(self, command: list[str]) -> str:
        """A one-shot step (compose's `migrate`, `publish`): its stdout; fails the test if it fails."""
        done = subprocess.run(command, env=self.env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"
        return done.stdout

    def start(self, name: str, service: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self._files.append(log)
        # Its own session: a stray process can always be found and stopped by its group id.
        self.processes[name] = subprocess.Popen(
            compose_command(service),
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def leaders(self) -> list[str]:
        """The routers that have led (by their log), alive or not."""
        return [name for name in self.processes if name.startswith("router") and LEADS in self.log(name)]

    def running(self, name: str) -> bool:
        return self.processes[name].poll() is None

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for file in self._files:
            file.close()


@dataclass
class Running:
    topology: Topology
    http: httpx.AsyncClient
    headers: dict[str, str]
    standin: TwilioStandIn
    database_url: str
    """libpq URL of the topology's database (cohort runs have no API listing)."""


@pytest.fixture
async def running(
    postgres_url: str, temporal_dev_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[Running]:
    database = next(_databases)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    queue = f"topology-{uuid.uuid4().hex[:8]}"
    api_port = free_port()
    async with TwilioStandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as standin:
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("GRIDJOURNEY_")},
            "GRIDJOURNEY_HOME": str(tmp_path / "home"),
            "GRIDJOURNEY_DATABASE_URL": postgres_database_url(postgres_url, database),
            "GRIDJOURNEY_TEMPORAL_ADDRESS": temporal_dev_env.client.service_client.config.target_host,
            "GRIDJOURNEY_TASK_QUEUE": queue,
            "GRIDJOURNEY_SEND_TASK_QUEUE": f"{queue}-send",
            "GRIDJOURNEY_SCORING_SCHEDULE": "false",
            "GRIDJOURNEY_API_PORT": str(api_port),
            "GRIDJOURNEY_ENCRYPTION_KEYS": f'{{"topology-1": "{generate_key()}"}}',
            "GRIDJOURNEY_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "GRIDJOURNEY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "GRIDJOURNEY_TWILIO_BASE_URL": standin.base_url,
        }
        topology = Topology(env, tmp_path)
        try:
            for step in ("migrate", "publish"):
                await asyncio.to_thread(topology.run_once, compose_command(step))
            no_hold = tmp_path / "outage_notice.yaml"
            no_hold.write_text(outage_notice_without_hold())
            publish = [str(GRIDJOURNEY), "journeys", "publish", str(no_hold)]
            await asyncio.to_thread(topology.run_once, publish)
            create_key = [str(GRIDJOURNEY), "keys", "create", "--name", "topology", "--scope", "admin"]
            key = (await asyncio.to_thread(topology.run_once, create_key)).splitlines()[-1]
            topology.start("api", "api")
            for n in (1, 2):
                topology.start(f"worker-{n}", "worker")
                topology.start(f"router-{n}", "router")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as http:
                yield Running(
                    topology,
                    http,
                    {"Authorization": f"Bearer {key}"},
                    standin,
                    postgres_database_url(postgres_url, database),
                )
        finally:
            await asyncio.to_thread(topology.stop)


async def eventually(probe: Callable[[], Any], what: str, topology: Topology, limit: float) -> Any:
    """Poll until `probe` (plain or async) gives a true value; on failure, show the processes' logs."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(0.1)
    tails = "\n".join(f"--- {name}\n{topology.log(name)[-2000:]}" for name in topology.processes)
    pytest.fail(f"never happened within {limit:.0f} s: {what}\n{tails}")


def event(kind: str, customer_id: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "customer_id": customer_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "topology-test",
        "payload": payload,
    }


@dataclass
class Expected:
    """Each journey's instance ids (gridjourney/entry/plan.py), the outage notice's cohort runs
    (router/cohorts.py) and each phone's outage texts."""

    instances: dict[str, set[str]] = field(
        default_factory=lambda: {"onboarding": set(), "high_bill_alert": set()}
    )
    outage_runs: set[str] = field(default_factory=set)
    outage_texts: dict[str, int] = field(default_factory=dict)
    open_incidents: dict[int, str] = field(default_factory=dict)  # customer n's premise: its outage


def phone(n: int) -> str:
    return f"+1503555{100 + n:04d}"


async def post(running: Running, events: list[dict[str, Any]]) -> None:
    response = await running.http.post("/v1/events", json={"events": events}, headers=running.headers)
    assert response.status_code == 201, response.text


async def new_customers(running: Running, expected: Expected, numbers: range) -> None:
    for n in numbers:
        customer = f"C-TOPO-{n}"
        created = event(
            "customer.created", customer, {"name": f"Topo {n}", "phone": phone(n), "premise_id": premise(n)}
        )
        consent = event(
            "consent.changed", customer, {"channel": "sms", "purpose": "informational", "granted": True}
        )
        bill = event(
            "bill.projection_updated",
            customer,
            {"projected_amount": 212.4, "typical_amount": 138.0, "days_left": 12},
        )
        await post(running, [created, consent, bill])
        expected.instances["onboarding"].add(f"journey:onboarding:{customer}")
        expected.instances["high_bill_alert"].add(f"journey:high_bill_alert:{customer}:w{bill['event_id']}")
        await outage(running, expected, n)


def premise(n: int) -> str:
    return f"P-TOPO-{n}"


async def outage(running: Running, expected: Expected, n: int) -> None:
    """A new outage at customer n's premise. One still open there would make this report part of it
    (incidents/queries.py: a premise in common within the dedup window): it is restored first."""
    restored = []
    if n in expected.open_incidents:
        payload = {
            "incident_id": expected.open_incidents.pop(n),
            "restored_at": datetime.now(UTC).isoformat(),
        }
        restored = [event("outage.restored", None, payload)]
    incident = f"INC-{uuid.uuid4().hex[:6]}"
    detected = event("outage.detected", None, {"incident_id": incident, "premise_ids": [premise(n)]})
    await post(running, [*restored, detected])
    expected.open_incidents[n] = incident
    expected.outage_runs.add(f"cohort:outage_notice:{incident}")
    expected.outage_texts[phone(n)] = expected.outage_texts.get(phone(n), 0) + 1


async def instances(running: Running, journey_id: str) -> set[str]:
    response = await running.http.get(
        f"/v1/journeys/{journey_id}/instances", params={"limit": 500}, headers=running.headers
    )
    assert response.status_code == 200, response.text
    return {item["instance_id"] for item in response.json()["items"]}


def outage_texts(running: Running) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in running.standin.received:
        if "power outage" in message.body:
            counts[message.to] = counts.get(message.to, 0) + 1
    return counts


def outage_runs(running: Running) -> dict[str, int]:
    """The outage notice's cohort runs and their members."""
    with psycopg.connect(running.database_url) as conn:
        rows = conn.execute(
            "SELECT run_id, members FROM cohort_runs WHERE journey_id = 'outage_notice'"
        ).fetchall()
    return {run_id: members for run_id, members in rows}


async def all_routed(running: Running, expected: Expected) -> bool:
    for journey_id, ids in expected.instances.items():
        if await instances(running, journey_id) != ids:
            return False
    runs = await asyncio.to_thread(outage_runs, running)
    return set(runs) == expected.outage_runs and outage_texts(running) == expected.outage_texts


async def assert_exactly(running: Running, expected: Expected) -> None:
    for journey_id, ids in expected.instances.items():
        assert await instances(running, journey_id) == ids, journey_id
    runs = await asyncio.to_thread(outage_runs, running)
    assert runs == dict.fromkeys(expected.outage_runs, 1), runs  # one run per incident, its one premise
    assert outage_texts(running) == expected.outage_texts


async def test_each_event_routed_once_and_a_killed_router_loses_nothing(running: Running) -> None:
    topology = running.topology

    async def api_up() -> bool:
        try:
            await running.http.get("/healthz")
        except httpx.TransportError:
            return False
        return True

    await eventually(api_up, "the API answers", topology, 120)
    first = await eventually(topology.leaders, "a router leads", topology, 120)
    await asyncio.sleep(3)  # the other router has had many chances to take the lock too
    assert topology.leaders() == first and len(first) == 1, first
    (leader,) = first
    standby = next(name for name in topology.processes if name.startswith("router") and name != leader)
    assert topology.running(standby)

    expected = Expected()
    await new_customers(running, expected, range(1, 5))
    await eventually(lambda: all_routed(running, expected), "phase 1 routed", topology, 120)

    topology.processes[leader].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()

    def took_over_at() -> float | None:
        return time.monotonic() if standby in topology.leaders() else None

    # Watched while the events below are posted, so the time is the takeover's, not the posting's.
    takeover = asyncio.create_task(eventually(took_over_at, "the standby takes over", topology, 60))
    # Posted while the standby takes over: it must route them, once.
    await new_customers(running, expected, range(5, 9))
    for n in range(1, 5):
        await outage(running, expected, n)
    assert await takeover - killed_at <= TAKEOVER_LIMIT_S
    await eventually(lambda: all_routed(running, expected), "phase 2 routed", topology, 120)
    await asyncio.sleep(3)  # a doubled route would show up as an extra text or instance by now
    await assert_exactly(running, expected)
    assert all(topology.running(name) for name in topology.processes if name != leader)
