"""The demo's log, as an operator would collect it: every line of stderr is JSON, and none holds a demo
customer's phone number, email address or name. One run of the whole stack in a subprocess, with its
own home folder and free ports, logging at DEBUG so that every library's records are there too
(tests/integration/logged_demo.py; it runs in the background from the start of the session)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from gridjourney.demo.utility import make_customers
from tests.integration.logged_demo import CUSTOMERS, TIMEOUT_S, LoggedDemo


# The demo's own bound (TIMEOUT_S from its start, with what it wrote) comes before the suite's timeout.
@pytest.mark.timeout(TIMEOUT_S + 60)
def test_the_demos_log_is_json_lines_without_personal_data(logged_demo: LoggedDemo) -> None:
    demo = logged_demo.output()
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]

    lines = demo.stderr.splitlines()
    assert len(lines) > 50  # the libraries' debug records are there: the check below means something
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    assert any(record["logger"].startswith("temporalio") for record in records)
    # The demo's customers (gridjourney/demo/runner.py) depend on the hour the run drew them at: those
    # of its first and its last logged moment, as the test may read the log well after the run.
    moments = [datetime.fromisoformat(record["time"]) for record in (records[0], records[-1])]
    customers = [customer for moment in moments for customer in make_customers(CUSTOMERS, moment)]
    for customer in customers:
        for personal in (customer.phone, customer.email, customer.name):
            assert personal not in demo.stderr, f"{personal!r} is in the log"
    assert (demo.home / "encryption-keys.json").exists()
