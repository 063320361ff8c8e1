"""`gridjourney api` as deployed: its log (uvicorn's records included) is JSON lines on stderr."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_and_ask(database_url: str, home: Path, requests: int, **settings: str) -> list[dict[str, str]]:
    """Run `gridjourney api` until it has answered `requests` requests, stop it with SIGTERM, and return
    its log records (every stderr line must be one JSON object)."""
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
    try:
        deadline = time.monotonic() + 90
        answered = 0
        while answered < requests:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/customers/c-1", timeout=2)
                answered += 1
            except httpx.TransportError:
                assert api.poll() is None and time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
    finally:
        api.send_signal(signal.SIGTERM)
        _, stderr = api.communicate(timeout=30)
    return [json.loads(line) for line in stderr.splitlines()]


def test_the_api_logs_uvicorns_records_as_json_lines(database_url: str, tmp_path: Path) -> None:
    records = serve_and_ask(database_url, tmp_path, requests=1)
    access = [record for record in records if record["logger"] == "uvicorn.access"]
    assert access and "/v1/customers/c-1" in access[0]["message"]
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
