"""The router the router tests make: on the task queues the workflow stand-ins serve."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from gridjourney.router.router import EventRouter
from tests.workflows.standins import SEND_TASK_QUEUE, TASK_QUEUE


def router_on_test_queues(engine: AsyncEngine, client: Client, **options: Any) -> EventRouter:
    """An EventRouter starting journeys on TASK_QUEUE and sends on SEND_TASK_QUEUE; `options` are
    EventRouter's others (projections_wait, projections_subscription, stop, concurrency...)."""
    return EventRouter(engine, client, task_queue=TASK_QUEUE, send_task_queue=SEND_TASK_QUEUE, **options)
