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


def test_the_api_logs_uvicorns_records_as_json_lines(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    environment = os.environ | {  # the session's encryption keys come along (tests/conftest.py)
        "GRIDJOURNEY_HOME": str(tmp_path),
        "GRIDJOURNEY_DATABASE_URL": database_url,
        "GRIDJOURNEY_TEMPORAL_ADDRESS": "127.0.0.1:1",  # down: the API serves without it
        "GRIDJOURNEY_API_PORT": str(port),
    }
    api = subprocess.Popen(
        [str(GRIDJOURNEY), "api"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/customers/c-1", timeout=2)
                break
            except httpx.TransportError:
                assert api.poll() is None and time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
    finally:
        api.send_signal(signal.SIGTERM)
        _, stderr = api.communicate(timeout=30)

    records = [json.loads(line) for line in stderr.splitlines()]  # every line is one JSON object
    access = [record for record in records if record["logger"] == "uvicorn.access"]
    assert access and "/v1/customers/c-1" in access[0]["message"]
    assert any(record["logger"] == "uvicorn.error" for record in records)  # "Started server process"
