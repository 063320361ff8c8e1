"""`gridjourney api` with several processes: whichever process a scrape reaches, `/metrics` counts the
work of all of them (prometheus-client's multiprocess mode, observability/exposition.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import create_key
from tests.api.test_server import GRIDJOURNEY, free_port

EVENTS = 40


def _appended(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "gridjourney_events_appended"
        for sample in family.samples
        if sample.name == "gridjourney_events_appended_total" and sample.labels["type"] == "program.enrolled"
    )


def _event(number: int) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "program.enrolled",
        "customer_id": f"metrics-{number}",
        "occurred_at": "2026-11-30T12:00:00Z",
        "source": "test",
        "payload": {"program": "peak_time_rewards"},
    }


def _count_over_two_processes(database_url: str, home: Path, key: str) -> list[float]:
    """Serve with two processes, post EVENTS events one connection each (the kernel hands them to
    either process), and return what each of a dozen scrapes counts."""
    port = free_port()
    environment = os.environ | {  # the session's encryption keys come along (tests/conftest.py)
        "GRIDJOURNEY_HOME": str(home),
        "GRIDJOURNEY_DATABASE_URL": database_url,
        "GRIDJOURNEY_TEMPORAL_ADDRESS": "127.0.0.1:1",  # down: the API serves without it
        "GRIDJOURNEY_API_PORT": str(port),
        "GRIDJOURNEY_API_WORKERS": "2",
    }
    api = subprocess.Popen(
        [str(GRIDJOURNEY), "api"], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert api.poll() is None and time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
        for number in range(EVENTS):
            answer = httpx.post(
                f"{base}/v1/events", json=_event(number), headers={"X-API-Key": key}, timeout=10
            )
            assert answer.status_code == 201, answer.text
        return [_appended(httpx.get(f"{base}/metrics", timeout=10).text) for _ in range(12)]
    finally:
        api.send_signal(signal.SIGTERM)
        api.communicate(timeout=30)


async def test_every_api_process_shows_the_counts_of_all_of_them(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    _, key = await create_key(engine, "metrics", ["events:write"])
    counted = await asyncio.to_thread(_count_over_two_processes, database_url, tmp_path, key)
    assert counted == [EVENTS] * len(counted)
