"""Temporal down: events are still appended (the API and the store need only Postgres), the router
keeps its checkpoint before the event it could not route and retries; once Temporal is back the
journey starts. A real dev server is stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import socket
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.events.store import EventStore
from gridjourney.events.subscription import Subscription
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.router import SUBSCRIPTION_NAME, EventRouter
from gridjourney.temporal import SEARCH_ATTRIBUTE_KEYS, connect, data_converter, temporal_cli_path
from tests.events.builders import new_event
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE, StandIns, running_workers

# The session's key (tests/conftest.py sets it in the environment), as every client of the stack uses.
DATA_CONVERTER = data_converter(Settings())

WELCOME = """
id: welcome
purpose: informational
trigger: {event: customer.created}
entry: {reentry: once}
steps:
  - id: pause
    wait: 1d
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _dev_server(port: int) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        port=port,
        data_converter=DATA_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_existing_path=str(temporal_cli_path()),
    )


async def test_events_are_kept_while_temporal_is_down_and_journeys_start_when_it_is_back(
    engine: AsyncEngine,
) -> None:
    port = _free_port()
    server = await _dev_server(port)
    client = await connect(f"127.0.0.1:{port}", "default", DATA_CONVERTER)
    await registry.publish(engine, WELCOME, "welcome.yaml", None)
    await server.shutdown()  # Temporal goes away

    store = EventStore(engine)
    customer = f"c-{uuid.uuid4().hex[:8]}"
    [appended] = await store.append([new_event("customer.created", customer, {"name": "Ana"})])
    await ProjectionRunner(engine).catch_up()
    router = EventRouter(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE)
    subscription = Subscription(
        engine, SUBSCRIPTION_NAME, router.handle, poll_interval=0.2, initial_backoff=0.2, max_backoff=0.5
    )
    stop = asyncio.Event()
    routing = asyncio.create_task(subscription.run_forever(stop))
    try:
        for _ in range(200):
            if subscription.errors >= 2:
                break
            await asyncio.sleep(0.1)
        assert subscription.errors >= 2, "routing should fail while Temporal is down"
        assert await subscription.checkpoint() < appended.position  # nothing skipped

        server = await _dev_server(port)  # Temporal is back (same address, empty state)
        try:
            async with running_workers(server.client, StandIns()):
                for _ in range(300):
                    if await subscription.checkpoint() >= appended.position:
                        break
                    await asyncio.sleep(0.1)
                assert await subscription.checkpoint() >= appended.position
                description = await server.client.get_workflow_handle(
                    f"journey:welcome:{customer}"
                ).describe()
                assert description.status == WorkflowExecutionStatus.RUNNING
        finally:
            stop.set()
            await routing
            await server.shutdown()
    finally:
        stop.set()
