"""`gridjourney api` as deployed: its log (uvicorn's records included) is JSON lines on stderr."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.ports import free_port

GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"


@dataclass
class ServedApi:
    url: str
    records: list[dict[str, str]] = field(default_factory=list)
    """Its log records, once it has stopped (every stderr line must be one JSON object)."""


@contextlib.contextmanager
def serving_api(database_url: str, home: Path, **settings: str) -> Iterator[ServedApi]:
    """`gridjourney api` as its own process, answering by the time this yields; stopped with SIGTERM
    on the way out. `settings`: more GRIDJOURNEY_* variables, by lowercase name."""
    port = free_port()
    environment = os.environ | {  # the session's encryption keys come along (tests/conftest.py)
        "GRIDJOURNEY_HOME": str(home),
        "GRIDJOURNEY_DATABASE_URL": database_url,
        "GRIDJOURNEY_TEMPORAL_ADDRESS": "127.0.0.1:1",  # down: the API serves without it
        "GRIDJOURNEY_API_PORT": str(port),
        **{f"GRIDJOURNEY_{name.upper()}": value for name, value in settings.items()},
    }
    api = subprocess.Popen(
        [str(GRIDJOURNEY), "api"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = ServedApi(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{served.url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert api.poll() is None and time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
        yield served
    finally:
        api.send_signal(signal.SIGTERM)
        _, stderr = api.communicate(timeout=30)
        served.records.extend(json.loads(line) for line in stderr.splitlines())


def serve_and_ask(database_url: str, home: Path, requests: int, **settings: str) -> list[dict[str, str]]:
    """Run `gridjourney api` until it has answered `requests` requests, and return its log records."""
    with serving_api(database_url, home, **settings) as served:
        for _ in range(requests):
            httpx.get(f"{served.url}/v1/customers/c-1", timeout=2)
    return served.records


def test_the_api_logs_uvicorns_records_as_json_lines(database_url: str, tmp_path: Path) -> None:
    records = serve_and_ask(database_url, tmp_path, requests=1)
    access = [record for record in records if record["logger"] == "uvicorn.access"]
    assert any("/v1/customers/c-1" in record["message"] for record in access)
    assert any(record["logger"] == "uvicorn.error" for record in records)  # "Started server process"


def test_several_api_processes_start_with_the_temporal_metrics_port_set(
    database_url: str, tmp_path: Path
) -> None:
    """Each worker process used to start the Temporal SDK's Prometheus exporter on the one configured
    port: all but one died on "Address already in use", and uvicorn restarted them forever."""
    records = serve_and_ask(
        database_url, tmp_path, requests=20, api_workers="2", temporal_metrics_port=str(free_port())
    )
    started = [r for r in records if r["message"].startswith("Started server process")]
    assert len(started) == 2, [r["message"] for r in records][-20:]  # no worker died and was replaced
    assert not any("Prometheus exporter" in r.get("error", "") + r["message"] for r in records)
