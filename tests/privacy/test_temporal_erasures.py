"""The Temporal part of an erasure is recorded until done (privacy/temporal_erasures.py), on real
Postgres and the Temporal dev server: with Temporal unreachable the erasure leaves a pending row (the
attempts, the last error, the next attempt after a doubling delay), the log names the customer with
no traceback, the metrics count it, and a retry (the CLI's, or the retrier the router's leader runs)
completes it once Temporal answers: the execution is gone and the row says completed."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.core import Metric
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from gridjourney.db.tables import temporal_erasures
from gridjourney.events.store import EventStore
from gridjourney.observability.database import DatabaseGauges
from gridjourney.privacy import temporal_erasures as temporal_part
from gridjourney.privacy.erasure import erase_customer
from gridjourney.privacy.temporal_erasures import (
    FIRST_DELAY,
    NO_CLIENT,
    finish,
    retry_forever,
    retry_pending,
    unreachable,
)
from gridjourney.privacy.workflow_erasure import customer_query
from gridjourney.temporal import CUSTOMER_ID, SEARCH_ATTRIBUTE_KEYS, temporal_cli_path
from tests.cli.in_process import gridjourney_in_process
from tests.conftest import DATA_CONVERTER
from tests.events.builders import new_event
from tests.stack import eventually, running_stack


async def _customer(engine: AsyncEngine, customer_id: str) -> None:
    await EventStore(engine).append([new_event("customer.created", customer_id, {"name": "Ana Ruiz"})])


async def _running_workflow(client: Client, customer_id: str) -> str:
    """An execution carrying the customer's CustomerId, running (no worker polls its queue), listed."""
    workflow_id = f"journey:{customer_id}:{uuid.uuid4()}"
    await client.start_workflow(
        "JourneyWorkflow",
        id=workflow_id,
        task_queue=f"nobody-{uuid.uuid4()}",
        search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOMER_ID, customer_id)]),
    )

    async def listed() -> bool:
        return any([w async for w in client.list_workflows(customer_query(customer_id))])

    await eventually(listed, f"{workflow_id} in visibility", attempts=600)
    return workflow_id


async def _gone(client: Client, workflow_id: str) -> None:
    async def gone() -> bool:
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as error:
            assert error.status == RPCStatusCode.NOT_FOUND, error
            return True
        return False  # Temporal deletes asynchronously: a moment later

    await eventually(gone, f"{workflow_id} deleted", attempts=600)


async def _row(engine: AsyncEngine, customer_id: str) -> dict[str, object]:
    async with engine.connect() as conn:
        query = select(temporal_erasures).where(temporal_erasures.c.customer_id == customer_id)
        return dict((await conn.execute(query)).one()._mapping)


def _samples(families: list[Metric]) -> dict[str, float]:
    return {sample.name: sample.value for family in families for sample in family.samples}


async def _metrics(engine: AsyncEngine) -> dict[str, float]:
    gauges = DatabaseGauges(engine)
    await gauges.refresh()
    return _samples(list(gauges.collect()))


async def test_unreachable_temporal_leaves_a_pending_row_with_backoff_and_a_one_line_log(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await _customer(engine, "C-PEND-1")
    erasure = await erase_customer(engine, EventStore(engine), "C-PEND-1")
    assert erasure is not None
    row = await _row(engine, "C-PEND-1")  # written by the erasure's own transaction
    assert row["completed_at"] is None and row["attempts"] == 0 and row["erased_at"] == erasure.erased_at

    with caplog.at_level(logging.WARNING, logger="gridjourney.privacy.temporal_erasures"):
        first = await finish(engine, None, "C-PEND-1", erasure.erased_at)
    assert first.deleted is None and first.unreachable and first.error == NO_CLIENT
    [record] = [r for r in caplog.records if r.name == "gridjourney.privacy.temporal_erasures"]
    assert "C-PEND-1" in record.getMessage() and "unreachable" in record.getMessage()
    assert record.exc_info is None  # an outage is one line, not a traceback

    row = await _row(engine, "C-PEND-1")
    assert row["attempts"] == 1 and row["last_error"] == NO_CLIENT and row["completed_at"] is None
    last, next_at = row["last_attempt_at"], row["next_attempt_at"]
    assert isinstance(last, datetime) and isinstance(next_at, datetime)
    assert next_at - last == FIRST_DELAY
    await finish(engine, None, "C-PEND-1", erasure.erased_at)
    row = await _row(engine, "C-PEND-1")
    last, next_at = row["last_attempt_at"], row["next_attempt_at"]
    assert isinstance(last, datetime) and isinstance(next_at, datetime)
    assert row["attempts"] == 2 and next_at - last == 2 * FIRST_DELAY  # the delay doubles

    assert await retry_pending(engine, None) == []  # not due yet
    assert [p.customer_id for p in await retry_pending(engine, None, due_only=False)] == ["C-PEND-1"]
    metrics = await _metrics(engine)
    assert metrics["gridjourney_erasures_pending"] == 1
    assert metrics["gridjourney_erasures_completed_total"] == 0


def test_an_outage_is_told_from_a_failure_of_the_deletion() -> None:
    assert unreachable(RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""))
    assert unreachable(RPCError("deadline", RPCStatusCode.DEADLINE_EXCEEDED, b""))
    assert unreachable(RuntimeError("Failed client connect: Server connection error"))
    assert not unreachable(RPCError("bad query", RPCStatusCode.INVALID_ARGUMENT, b""))
    assert not unreachable(ValueError("not a customer id"))


async def test_the_cli_lists_a_pending_erasure_and_its_retry_completes_it_once_temporal_answers(
    engine: AsyncEngine,
    database_url: str,
    temporal_dev_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = temporal_dev_env.client
    await _customer(engine, "C-PEND-2")
    workflow_id = await _running_workflow(client, "C-PEND-2")
    erasure = await erase_customer(engine, EventStore(engine), "C-PEND-2")
    assert erasure is not None
    assert (await finish(engine, None, "C-PEND-2", erasure.erased_at)).deleted is None

    status, output = await gridjourney_in_process(database_url, "privacy", "pending")
    assert status == 0, output
    assert "C-PEND-2" in output and NO_CLIENT in output and "1 erasure(s)" in output
    # --retry with Temporal unreachable: still pending, one attempt more, exit 1
    status, output = await gridjourney_in_process(
        database_url, "privacy", "pending", "--retry", GRIDJOURNEY_TEMPORAL_ADDRESS="127.0.0.1:1"
    )
    assert status == 1, output
    assert "C-PEND-2: still pending" in output and (await _row(engine, "C-PEND-2"))["attempts"] == 2
    assert (await _metrics(engine))["gridjourney_erasures_pending"] == 1

    address = client.service_client.config.target_host
    status, output = await gridjourney_in_process(
        database_url, "privacy", "pending", "--retry", GRIDJOURNEY_TEMPORAL_ADDRESS=address
    )
    assert status == 0, output
    assert "C-PEND-2: 1 workflow execution(s) deleted, to be checked" in output
    row = await _row(engine, "C-PEND-2")  # a listing right after the erasure is not trusted yet
    assert row["completed_at"] is None and row["workflows_deleted"] == 1 and row["last_error"] is None
    await _gone(client, workflow_id)

    # VERIFY_AFTER later (here: at once), a listing that finds none of theirs left completes it
    monkeypatch.setattr(temporal_part, "VERIFY_AFTER", timedelta(0))

    async def completed() -> bool:
        status, output = await gridjourney_in_process(
            database_url, "privacy", "pending", "--retry", GRIDJOURNEY_TEMPORAL_ADDRESS=address
        )
        assert status == 0, output
        return "C-PEND-2: completed" in output and "0 erasure(s)" in output

    await eventually(completed, "a check found nothing left", attempts=100)
    row = await _row(engine, "C-PEND-2")
    assert row["completed_at"] is not None and row["last_error"] is None
    metrics = await _metrics(engine)
    assert metrics["gridjourney_erasures_pending"] == 0
    assert metrics["gridjourney_erasures_completed_total"] == 1


async def test_a_listing_too_soon_after_the_erasure_does_not_complete_it_and_a_late_execution_is_caught(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journey started just before the erasure may not be listed yet (visibility lags): the first
    listing finds none, which completes nothing; the check VERIFY_AFTER later finds and deletes it."""
    client = temporal_dev_env.client
    await _customer(engine, "C-PEND-6")
    erasure = await erase_customer(engine, EventStore(engine), "C-PEND-6")
    assert erasure is not None
    first = await finish(engine, client, "C-PEND-6", erasure.erased_at)
    assert first.deleted == 0 and not first.completed
    assert (await _row(engine, "C-PEND-6"))["completed_at"] is None
    workflow_id = await _running_workflow(client, "C-PEND-6")  # listed only now

    monkeypatch.setattr(temporal_part, "VERIFY_AFTER", timedelta(0))
    [check] = await retry_pending(engine, client, due_only=False)
    assert check.deleted == 1 and not check.completed  # checked again after the deletion
    await _gone(client, workflow_id)

    async def completed() -> bool:
        return all(attempt.completed for attempt in await retry_pending(engine, client, due_only=False))

    await eventually(completed, "a check found nothing left", attempts=100)
    assert (await _row(engine, "C-PEND-6"))["completed_at"] is not None


async def test_the_retrier_completes_a_due_erasure_without_anyone_asking(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(temporal_part, "VERIFY_AFTER", timedelta(0))  # checked at once after deleting
    client = temporal_dev_env.client
    await _customer(engine, "C-PEND-3")
    workflow_id = await _running_workflow(client, "C-PEND-3")
    erasure = await erase_customer(engine, EventStore(engine), "C-PEND-3")
    assert erasure is not None
    await finish(engine, None, "C-PEND-3", erasure.erased_at)
    async with engine.begin() as conn:  # its next attempt is due (as it is 30 s later)
        await conn.execute(
            update(temporal_erasures).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    stop = asyncio.Event()
    retrier = asyncio.create_task(retry_forever(engine, client, stop, interval=timedelta(milliseconds=100)))
    try:

        async def completed() -> bool:
            return (await _row(engine, "C-PEND-3"))["completed_at"] is not None

        await eventually(completed, "the retrier completed the erasure", attempts=600)
    finally:
        stop.set()
        await retrier  # returns once stopped: it never raises
    deleted = (await _row(engine, "C-PEND-3"))["workflows_deleted"]
    assert isinstance(deleted, int) and deleted >= 1  # twice if a deletion under way was asked again
    await _gone(client, workflow_id)


async def test_a_killed_temporal_is_an_outage_logged_in_one_line_naming_the_customer(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """The reviewer's case: a client connected to a Temporal that then died (its calls fail UNAVAILABLE
    after the SDK's retries)."""
    killed = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_existing_path=str(temporal_cli_path()),
    )
    client = killed.client
    await killed.shutdown()
    await _customer(engine, "C-PEND-4")
    erasure = await erase_customer(engine, EventStore(engine), "C-PEND-4")
    assert erasure is not None
    with caplog.at_level(logging.WARNING, logger="gridjourney.privacy.temporal_erasures"):
        attempt = await finish(engine, client, "C-PEND-4", erasure.erased_at)
    assert attempt.deleted is None and attempt.unreachable
    [record] = [r for r in caplog.records if r.name == "gridjourney.privacy.temporal_erasures"]
    assert "C-PEND-4" in record.getMessage() and record.exc_info is None
    row = await _row(engine, "C-PEND-4")
    assert row["attempts"] == 1 and row["completed_at"] is None
    assert isinstance(row["last_error"], str) and row["last_error"].startswith("RPCError")


async def test_the_router_leader_retries_pending_erasures(
    engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The running stack's leader (stack.py RouterSide) runs the retrier: nobody asks."""
    monkeypatch.setattr(temporal_part, "RETRY_INTERVAL", timedelta(milliseconds=200))
    monkeypatch.setattr(temporal_part, "VERIFY_AFTER", timedelta(0))
    client = temporal_dev_env.client
    await _customer(engine, "C-PEND-5")
    workflow_id = await _running_workflow(client, "C-PEND-5")
    erasure = await erase_customer(engine, EventStore(engine), "C-PEND-5")
    assert erasure is not None
    await finish(engine, None, "C-PEND-5", erasure.erased_at)
    async with engine.begin() as conn:  # due, as it is 30 s later
        await conn.execute(
            update(temporal_erasures).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    async with running_stack(engine, client):

        async def completed() -> bool:
            return (await _row(engine, "C-PEND-5"))["completed_at"] is not None

        await eventually(completed, "the leader's retrier completed the erasure", attempts=600)
    await _gone(client, workflow_id)
