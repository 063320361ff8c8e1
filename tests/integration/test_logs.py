"""The demo's log, as an operator would collect it: every line of stderr is JSON, and none holds a demo
customer's phone number, email address or name. One run of the whole stack in a subprocess, with its
own home folder and free ports, logging at DEBUG so that every library's records are there too."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from gridjourney.demo.utility import make_customers

REPO = Path(__file__).resolve().parents[2]
GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"
CUSTOMERS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_demos_log_is_json_lines_without_personal_data(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GRIDJOURNEY_")} | {
        # no keys configured: the embedded stack generates its own, as for a new user
        "GRIDJOURNEY_HOME": str(tmp_path / "home"),
        "GRIDJOURNEY_LOG_LEVEL": "DEBUG",
        "GRIDJOURNEY_API_PORT": str(free_port()),
        "GRIDJOURNEY_TEMPORAL_PORT": str(free_port()),
        "GRIDJOURNEY_TEMPORAL_UI_PORT": str(free_port()),
        "GRIDJOURNEY_SMS_STANDIN_PORT": str(free_port()),
        "GRIDJOURNEY_PUSH_STANDIN_PORT": str(free_port()),
        "GRIDJOURNEY_EMAIL_STANDIN_PORT": str(free_port()),
        "GRIDJOURNEY_LOCAL_VTN_PORT": str(free_port()),
    }
    demo = subprocess.run(
        [str(GRIDJOURNEY), "run", "--exit-after-demo", "--customers", str(CUSTOMERS)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]

    lines = demo.stderr.splitlines()
    assert len(lines) > 50  # the libraries' debug records are there: the check below means something
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    assert any(record["logger"].startswith("temporalio") for record in records)
    # the demo's customers (gridjourney/demo/runner.py)
    customers = make_customers(CUSTOMERS, datetime.now(UTC))
    for customer in customers:
        for personal in (customer.phone, customer.email, customer.name):
            assert personal not in demo.stderr, f"{personal!r} is in the log"
    assert (tmp_path / "home" / "encryption-keys.json").exists()
