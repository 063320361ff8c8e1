"""The provider stand-ins of the cohort benchmark (Twilio, SendGrid, a Web Push service), with what
the benchmark reads from them: when each request arrived and which send each message was.

They run in this process (`InlineStandIns`) or in a child process of their own (`ChildStandIns`,
`python -m bench.cohort_standins DIR`), so that their CPU (a Web Push service verifies an ES256 VAPID
signature per request) does not take the event loop of the workers being measured. The child writes
DIR/ready.json (URLs, push endpoints) when it serves, and DIR/receipts.json whenever a line
`receipts` arrives on its stdin; it stops at end of input.

Receipts: per channel, the wall-clock time of each accepted request, and the send key of each message
(SMS: the `key` of its status callback; email: its custom_args key; push: its Topic, a digest of the
key, see channels/push.py `topic`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import uvloop
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.cohort_seed import PushEndpoint
from gridjourney.channels.email import KEY_ARG
from gridjourney.channels.push_standin import PushStandIn
from gridjourney.channels.sendgrid_standin import SendGridStandIn
from gridjourney.channels.twilio_standin import TwilioStandIn
from gridjourney.config import Settings

CHANNELS = ("sms", "email", "push")


@dataclass
class Receipts:
    request_times: dict[str, list[float]] = field(default_factory=dict)
    keys: dict[str, list[str]] = field(default_factory=dict)

    def last_time(self) -> float | None:
        times = [t for ts in self.request_times.values() for t in ts]
        return max(times) if times else None

    def requests(self) -> dict[str, int]:
        return {channel: len(times) for channel, times in self.request_times.items()}

    def messages(self) -> dict[str, int]:
        return {channel: len(keys) for channel, keys in self.keys.items()}


class _Timed:
    """ASGI middleware: the time each accepted POST (a provider request) was answered."""

    def __init__(self, app: ASGIApp, times: list[float]) -> None:
        self.app = app
        self.times = times

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status: list[int] = []

        async def noted(message: Any) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, noted)
        if scope["type"] == "http" and scope["method"] == "POST" and status and status[0] < 300:
            self.times.append(time.time())


class InlineStandIns:
    """The three stand-ins served by this process's event loop."""

    where = "in-process"

    def __init__(self, settings: Settings) -> None:
        self.twilio = TwilioStandIn(
            account_sid=settings.twilio_account_sid, auth_token=settings.twilio_auth_token.get_secret_value()
        )
        self.sendgrid = SendGridStandIn(api_key=settings.sendgrid_api_key.get_secret_value())
        self.push = PushStandIn()
        self._times: dict[str, list[float]] = {channel: [] for channel in CHANNELS}
        self.twilio.app = _Timed(self.twilio.app, self._times["sms"])
        self.sendgrid.app = _Timed(self.sendgrid.app, self._times["email"])
        self.push.app = _Timed(self.push.app, self._times["push"])
        self.endpoints: list[PushEndpoint] = []

    async def start(self, push_subscribers: int) -> None:
        for standin in (self.twilio, self.sendgrid, self.push):
            await standin.start()
        for _ in range(push_subscribers):
            subscriber = self.push.new_subscriber()
            self.endpoints.append(PushEndpoint(subscriber.endpoint, subscriber.p256dh, subscriber.auth))

    def urls(self) -> dict[str, str]:
        return {"sms": self.twilio.base_url, "email": self.sendgrid.base_url, "push": self.push.base_url}

    async def receipts(self) -> Receipts:
        keys = {
            "sms": [_callback_key(m.status_callback) for m in self.twilio.received],
            "email": [str(e.custom_args.get(KEY_ARG, "")) for e in self.sendgrid.received],
            "push": [p.topic or "" for p in self.push.received],
        }
        return Receipts({c: list(t) for c, t in self._times.items()}, keys)

    def cpu_seconds(self) -> float | None:
        return None  # shared with everything else in this process

    async def stop(self) -> None:
        for standin in (self.twilio, self.sendgrid, self.push):
            await standin.stop()


class ChildStandIns:
    """The three stand-ins in a child process (this module run as a script)."""

    where = "child process"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoints: list[PushEndpoint] = []
        self._urls: dict[str, str] = {}

    async def start(self, push_subscribers: int) -> None:
        ready = self.directory / "ready.json"
        self.process = self._launch(push_subscribers)
        while not ready.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the stand-ins' process exited with {self.process.returncode}")
            await asyncio.sleep(0.1)
        found = json.loads(ready.read_text())
        self._urls = found["urls"]
        self.endpoints = [PushEndpoint(*e) for e in found["endpoints"]]

    def _launch(self, push_subscribers: int) -> subprocess.Popen[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [sys.executable, "-m", "bench.cohort_standins", str(self.directory), str(push_subscribers)],
            stdin=subprocess.PIPE,
            env=os.environ.copy(),
        )

    def urls(self) -> dict[str, str]:
        return self._urls

    async def receipts(self) -> Receipts:
        assert self.process is not None and self.process.stdin is not None
        out = self.directory / "receipts.json"
        out.unlink(missing_ok=True)
        self.process.stdin.write(b"receipts\n")
        self.process.stdin.flush()
        while not out.exists():
            await asyncio.sleep(0.05)
        found = json.loads(out.read_text())
        return Receipts(found["request_times"], found["keys"])

    def cpu_seconds(self) -> float | None:
        """User + system CPU the child has used (Linux /proc)."""
        return None if self.process is None else cpu_seconds_of(self.process.pid)

    async def stop(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
            await asyncio.to_thread(self.process.wait, 30)


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU a running process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process, of its children it has reaped (Postgres's ended backends) and
    of its living descendants (Postgres's backends and background processes); 0 when it is gone."""
    if pid is None:
        return 0.0
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(parent, []).append(int(entry.name))
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    pending, first = [pid], True
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime; for the process itself also cutime, cstime (its reaped children)
            total += sum(int(f) for f in fields[11 : 15 if first else 13]) / tick
        first = False
        pending.extend(parents.get(current, []))
    return total


def _callback_key(url: str | None) -> str:
    return parse_qs(urlsplit(url or "").query).get("key", [""])[0]


async def _serve(directory: Path, push_subscribers: int) -> None:
    standins = InlineStandIns(Settings())
    await standins.start(push_subscribers)
    ready = {
        "urls": standins.urls(),
        "endpoints": [[e.endpoint, e.p256dh, e.auth] for e in standins.endpoints],
    }
    (directory / "ready.tmp").write_text(json.dumps(ready))
    (directory / "ready.tmp").rename(directory / "ready.json")
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip() == "receipts":
                found = await standins.receipts()
                text = json.dumps({"request_times": found.request_times, "keys": found.keys})
                (directory / "receipts.tmp").write_text(text)
                (directory / "receipts.tmp").rename(directory / "receipts.json")
    finally:
        await standins.stop()


if __name__ == "__main__":
    # uvloop: the stand-ins' own CPU per request is part of what the benchmark's machine spends
    uvloop.run(_serve(Path(sys.argv[1]), int(sys.argv[2])))
