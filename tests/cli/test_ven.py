"""`gridjourney ven` as installed: a clear error without a VTN; with one, it appends what the VTN sends
and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import events
from gridjourney.openadr.vtn import local_vtn

GRIDJOURNEY = Path(sys.executable).parent / "gridjourney"


async def start_ven(database_url: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(GRIDJOURNEY),
        "ven",
        env={**os.environ, "COLUMNS": "200", "GRIDJOURNEY_DATABASE_URL": database_url, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_without_a_vtn_url_it_says_what_to_set(database_url: str) -> None:
    process = await start_ven(database_url, GRIDJOURNEY_VTN_URL="")
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "set GRIDJOURNEY_VTN_URL" in stdout.decode()


async def test_it_appends_the_vtns_event_and_stops_on_ctrl_c(engine: AsyncEngine, database_url: str) -> None:
    async with local_vtn(poll_interval=timedelta(seconds=30)) as vtn:
        event_id = vtn.add_event(
            ven_name="cli-ven",
            program="ptr",
            start=datetime.now(UTC) + timedelta(hours=3),
            duration=timedelta(hours=1),
            level=2,
        )
        process = await start_ven(
            database_url,
            GRIDJOURNEY_VTN_URL=vtn.url,
            GRIDJOURNEY_VEN_NAME="cli-ven",
            GRIDJOURNEY_VEN_POLL_INTERVAL="PT0.2S",
        )
        try:
            answer = await vtn.answer_for(event_id, 0, within=60)
        except TimeoutError:
            answer = None
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        stdout, _ = await asyncio.wait_for(process.communicate(), 15)
    output = stdout.decode()
    assert answer is not None, output
    assert answer.opt_type == "optIn"
    assert process.returncode == 0, output
    assert "polls " + vtn.url in output
    assert f"OpenADR event {vtn.vtn_id}:{event_id} (modification 0): scheduled, answered optIn" in output
    async with engine.connect() as conn:
        rows = (await conn.execute(select(events.c.type, events.c.payload["dr_event_id"].astext))).all()
    assert [tuple(row) for row in rows] == [("dr.event_scheduled", f"{vtn.vtn_id}:{event_id}")]
