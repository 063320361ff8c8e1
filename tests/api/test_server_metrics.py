"""`gridjourney api` with several processes: whichever process a scrape reaches, `/metrics` counts the
work of all of them (prometheus-client's multiprocess mode, observability/exposition.py)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import create_key
from tests.api.test_server import serving_api

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
    with serving_api(database_url, home, api_workers="2") as served:
        for number in range(EVENTS):
            answer = httpx.post(
                f"{served.url}/v1/events", json=_event(number), headers={"X-API-Key": key}, timeout=10
            )
            assert answer.status_code == 201, answer.text
        return [_appended(httpx.get(f"{served.url}/metrics", timeout=10).text) for _ in range(12)]


async def test_every_api_process_shows_the_counts_of_all_of_them(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    _, key = await create_key(engine, "metrics", ["events:write"])
    counted = await asyncio.to_thread(_count_over_two_processes, database_url, tmp_path, key)
    assert counted == [EVENTS] * len(counted)
