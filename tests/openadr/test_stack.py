"""The embedded stack with settings.local_vtn: it serves the local VTN, its router side runs the VEN
against it, and both stop with the stack."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from gridjourney.channels.standin_server import bind_socket
from gridjourney.config import Settings
from gridjourney.db.tables import events
from gridjourney.stack import WorkerSide


def free_port() -> int:
    sock = bind_socket("127.0.0.1", 0)
    port = int(sock.getsockname()[1])
    sock.close()
    return port


async def test_the_stack_runs_the_local_vtn_and_the_ven_and_stops_both(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = f"openadr-{uuid.uuid4().hex[:8]}"
    port = free_port()
    settings = Settings(
        task_queue=queue,
        send_task_queue=f"{queue}-send",
        scoring_schedule=False,
        journeys_dir=tmp_path,  # no journeys: this test is about the VEN's appends, not routing
        local_vtn=True,
        local_vtn_port=port,
        ven_poll_interval=timedelta(seconds=0.2),
    )
    workers = WorkerSide(engine, temporal_dev_env.client, settings)
    assert workers.local_vtn is not None
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    try:
        async with asyncio.timeout(30):
            while workers.routing.ven is None or not workers.routing.ven.registered.is_set():
                await asyncio.sleep(0.05)
        assert workers.routing.vtn_url == f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b"
        event_id = workers.local_vtn.add_event(
            ven_name=settings.ven_name,
            program="ptr",
            start=datetime.now(UTC) + timedelta(hours=2),
            duration=timedelta(hours=1),
        )
        async with asyncio.timeout(10):
            while not await scheduled_ids(engine):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=15)

    assert await scheduled_ids(engine) == [f"{workers.local_vtn.vtn_id}:{event_id}"]
    assert not workers.routing.ven.registered.is_set()
    bind_socket("127.0.0.1", port).close()  # the VTN let go of its port


async def scheduled_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(events.c.payload["dr_event_id"].astext).where(events.c.type == "dr.event_scheduled")
        )
        return [str(row[0]) for row in rows]
