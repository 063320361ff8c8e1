"""`gridjourney run` as an operator runs it: a poison event stops nothing; SIGTERM ends everything
within 10 s; SIGKILL of the main process still takes the Temporal dev server and PostgreSQL down
(process group + parent-death signal, and the watchdog, gridjourney/watchdog.py).

Each test starts one whole stack in a subprocess, with its own home folder and free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"
STARTUP_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    cmdline: str


def processes() -> list[Proc]:
    """Every live (not zombie) process, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended while we looked
        state, ppid = stat.rsplit(") ", 1)[1].split()[:2]
        if state != "Z":
            found.append(Proc(int(entry.name), int(ppid), cmdline.strip()))
    return found


def descendants_of(pid: int) -> list[Proc]:
    table = processes()
    out: list[Proc] = []
    parents = {pid}
    while True:
        new = [p for p in table if p.ppid in parents and p not in out]
        if not new:
            return out
        out.extend(new)
        parents = {p.pid for p in new}


def still_running(expected: list[Proc], timeout: float) -> list[Proc]:
    """Those of `expected` still running after `timeout` seconds (the same pid and command line)."""
    deadline = time.monotonic() + timeout
    while True:
        live = set(processes())
        left = [p for p in expected if p in live]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    home: Path
    env: dict[str, str]
    api: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def descendants(self) -> list[Proc]:
        """Everything the stack started: its children (the Temporal dev server, the watchdog) and the
        PostgreSQL server (which detaches from its starter) with its own children."""
        pid_file = self.home / "postgres" / "postmaster.pid"
        postmaster = int(pid_file.read_text().split("\n", 1)[0])
        table = {p.pid: p for p in processes()}
        return [*descendants_of(self.process.pid), table[postmaster], *descendants_of(postmaster)]

    def leftovers(self) -> list[Proc]:
        """Processes still running whose command line names this stack's home or its Temporal port."""
        marks = (str(self.home.resolve()), f"--port {self.env['GRIDJOURNEY_TEMPORAL_PORT']}")
        return [p for p in processes() if any(mark in p.cmdline for mark in marks)]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    home = tmp_path / "home"
    api_port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("GRIDJOURNEY_")}
    env.update(
        GRIDJOURNEY_HOME=str(home),
        GRIDJOURNEY_API_PORT=str(api_port),
        GRIDJOURNEY_TEMPORAL_PORT=str(free_port()),
        GRIDJOURNEY_TEMPORAL_UI_PORT=str(free_port()),
        GRIDJOURNEY_SMS_STANDIN_PORT=str(free_port()),
        GRIDJOURNEY_PUSH_STANDIN_PORT=str(free_port()),
        GRIDJOURNEY_EMAIL_STANDIN_PORT=str(free_port()),
        GRIDJOURNEY_SCORING_SCHEDULE="false",
    )
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(GRIDJOURNEY), "run", "--no-demo"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    running = Stack(process, home, env, f"http://127.0.0.1:{api_port}", log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not healthy(running):
            assert process.poll() is None, running.output()
            assert time.monotonic() < deadline, "the stack did not become healthy:\n" + running.output()
            time.sleep(0.3)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def healthy(stack: Stack) -> bool:
    try:
        return httpx.get(f"{stack.api}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def admin_key(stack: Stack) -> str:
    created = subprocess.run(
        [str(GRIDJOURNEY), "keys", "create", "--name", "shutdown-test", "--scope", "admin"],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return created.stdout.strip().splitlines()[-1]


def event(customer_id: str, name: str) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "customer.created",
        "customer_id": customer_id,
        "occurred_at": "2026-07-01T12:00:00Z",
        "source": "test",
        "payload": {"name": name, "locale": "en", "time_zone": "America/Chicago"},
    }


def test_sigterm_stops_everything_within_10_seconds_even_after_a_poison_event(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {admin_key(stack)}"}
    poison = httpx.post(f"{stack.api}/v1/events", json=event("C-POISON", "x" * 201), headers=headers)
    assert poison.status_code in (201, 422), poison.text  # refused at the door, or set aside later
    normal = httpx.post(f"{stack.api}/v1/events", json=event("C-NORMAL", "Ana"), headers=headers)
    assert normal.status_code == 201, normal.text
    position = normal.json()["events"][0]["position"]

    # Nothing stopped: both subscriptions get past the normal event.
    deadline = time.monotonic() + 60
    while True:
        figures = httpx.get(f"{stack.api}/v1/admin/subscriptions", headers=headers).json()
        positions = {s["name"]: s["position"] for s in figures["subscriptions"]}
        if positions.get("projections", 0) >= position and positions.get("router", 0) >= position:
            break
        assert time.monotonic() < deadline, figures
        time.sleep(0.2)

    children = stack.descendants()
    assert any("start-dev" in p.cmdline for p in children) and any("watchdog" in p.cmdline for p in children)
    sent = time.monotonic()
    stack.process.send_signal(signal.SIGTERM)
    stack.process.wait(timeout=15)
    elapsed = time.monotonic() - sent
    assert elapsed < 10, f"stopping took {elapsed:.1f}s:\n{stack.output()}"
    assert stack.process.returncode == 0, stack.output()
    assert still_running(children, timeout=3) == []
    assert stack.leftovers() == []


def test_sigkill_of_the_main_process_still_stops_the_servers(stack: Stack) -> None:
    children = stack.descendants()
    stack.process.kill()
    stack.process.wait()
    assert still_running(children, timeout=10) == []
    assert stack.leftovers() == []
