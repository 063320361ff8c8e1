"""The local VTN's operator door: a bad field is a 400 naming it, an unknown event a 404, and what it
schedules is the event the VTN hands its VEN."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gridjourney.openadr.vtn import local_vtn
from gridjourney.openadr.vtn_operator import OPERATOR_PATH

START = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0).isoformat()
GOOD = {"ven_name": "v", "program": "ptr", "start": START, "duration_seconds": 3600}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"start": "tomorrow"}, "start: not an ISO 8601 time"),
        ({"start": "2030-07-01T17:00:00"}, "start: give the UTC offset"),
        ({"duration_seconds": 0}, "duration_seconds: a positive number"),
        ({"duration_seconds": None}, "start and duration_seconds are required"),
        ({"level": "high"}, "level: a number"),
        ({"level": 7}, "a SIMPLE signal's level is 0, 1, 2 or 3, not 7"),
        ({"program": ""}, "program: a non-empty string is required"),
        ({"ven_name": None}, "ven_name: a non-empty string is required"),
    ],
)
async def test_a_bad_field_is_refused_naming_it(changes: dict[str, Any], named: str) -> None:
    async with local_vtn() as vtn, httpx.AsyncClient(base_url=f"http://127.0.0.1:{vtn.port}") as http:
        answer = await http.post(OPERATOR_PATH, json={**GOOD, **changes})
        assert answer.status_code == 400 and named in answer.json()["detail"]
        assert vtn.server.events.get("v", []) == []


async def test_scheduling_then_an_unknown_event_and_a_body_that_is_no_json() -> None:
    async with local_vtn() as vtn, httpx.AsyncClient(base_url=f"http://127.0.0.1:{vtn.port}") as http:
        created = await http.post(OPERATOR_PATH, json={**GOOD, "event_id": "E-1", "level": 3})
        assert created.status_code == 201 and created.json() == {"event_id": "E-1", "modification_number": 0}
        [event] = vtn.server.events["v"]
        interval = event.event_signals[0].intervals[0]
        assert (interval.dtstart.isoformat(), interval.duration, interval.signal_payload) == (
            START,
            timedelta(hours=1),
            3.0,
        )
        unknown = await http.post(f"{OPERATOR_PATH}/E-9/cancel", json={"ven_name": "v"})
        assert unknown.status_code == 404 and "no event E-9 for VEN v" in unknown.json()["detail"]
        garbled = await http.post(
            f"{OPERATOR_PATH}/E-1/modify", content=b"{", headers={"content-type": "application/json"}
        )
        assert garbled.status_code == 400 and garbled.json()["detail"] == "the body is not JSON"
