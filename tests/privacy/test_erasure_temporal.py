"""Erasure in Temporal, on the real stack (API, workers, router, the Temporal dev server): the
customer's workflow histories, whose payloads the deployment's codec decrypts, are deleted by
`DELETE /v1/customers/{id}`; with Temporal unreachable the response says so and a repeat completes it."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.app import create_app
from gridjourney.api.deps import lazy_temporal_client
from gridjourney.demo.utility import daytime_zones
from gridjourney.privacy import queries as erasures
from gridjourney.privacy.workflow_erasure import customer_query
from gridjourney.temporal import SEARCH_ATTRIBUTE_KEYS, temporal_cli_path
from tests.api.conftest import UNREACHABLE_TEMPORAL
from tests.conftest import DATA_CONVERTER
from tests.stack import ApiStack, api_stack, eventually

CUSTOMER, OTHER = "C-ERASE-T", "C-KEEP-T"
NAME, PHONE, EMAIL = "Rosa Diaz", "+15035550142", "rosa@example.com"


# Temporal deletes a closed execution (a journey that ended) once its history shard has checkpointed
# the execution's close in the transfer queue, which it does every
# history.transferProcessorUpdateAckInterval: 30 s by default, hence deletions that took up to 30 s
# while a running one (terminated by the deletion) went at once. This module's dev server checkpoints
# every second, so every deletion is done within about a second.
PROMPT_DELETION = ["--dynamic-config-value", 'history.transferProcessorUpdateAckInterval="1s"']


@pytest.fixture(scope="module")
async def temporal_dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The session's dev server (tests/conftest.py), with deletions done promptly (above)."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_existing_path=str(temporal_cli_path()),
        dev_server_extra_args=PROMPT_DELETION,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def stack(engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment) -> AsyncIterator[ApiStack]:
    async with api_stack(engine, temporal_dev_env.client) as running:
        yield running


def _event(kind: str, customer_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "customer_id": customer_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "crm",
        "payload": payload,
    }


def _payloads(message: Message) -> list[Payload]:
    """Every Payload in a protobuf message, however deep."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = [entry for entry in value.values() if isinstance(entry, Message)]
        elif isinstance(value, Message):
            items = [value]
        else:  # a repeated field
            items = list(value)
        for item in items:
            found += _payloads(item)
    return found


async def _decoded_histories(client: Client, customer_id: str) -> dict[str, str]:
    """Workflow id → the text of every payload of its history, decrypted by the deployment's codec."""
    codec = client.data_converter.payload_codec
    assert codec is not None
    texts = {}
    async for execution in client.list_workflows(customer_query(customer_id)):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        decoded = await codec.decode([payload for event in history.events for payload in _payloads(event)])
        texts[execution.id] = " ".join(payload.data.decode("utf-8", "replace") for payload in decoded)
    return texts


async def _create(stack: ApiStack, customer_id: str, name: str, phone: str, email: str) -> None:
    profile = {"name": name, "phone": phone, "email": email, "time_zone": daytime_zones(datetime.now(UTC))[0]}
    consent = {"channel": "sms", "purpose": "informational", "granted": True}
    events = [
        _event("customer.created", customer_id, profile),
        _event("consent.changed", customer_id, consent),
    ]
    response = await stack.http.post("/v1/events", json={"events": events}, headers=stack.admin)
    assert response.status_code in (200, 201, 202), response.text


async def test_erasure_deletes_the_customers_workflow_histories_and_a_repeat_completes_a_pending_one(
    stack: ApiStack, engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> None:
    client = temporal_dev_env.client
    await _create(stack, CUSTOMER, NAME, PHONE, EMAIL)
    await _create(stack, OTHER, "Rafael Lindqvist", "+13035550166", "rafael.l@example.com")

    async def started() -> bool:  # the onboarding journey of each (customer.created starts it)
        found = await _decoded_histories(client, CUSTOMER), await _decoded_histories(client, OTHER)
        return all(found)

    await eventually(started, "both customers' onboarding journeys")
    histories = await _decoded_histories(client, CUSTOMER)
    assert any(PHONE in text and NAME in text for text in histories.values())  # decodable: personal
    running = [
        w async for w in client.list_workflows(f"{customer_query(CUSTOMER)} AND ExecutionStatus='Running'")
    ]
    assert running  # the onboarding journey waits two days

    # Temporal unreachable: the erasure in the database stands, the Temporal part is pending.
    down = create_app(
        stack.running.settings,
        engine,
        lazy_temporal_client(UNREACHABLE_TEMPORAL, "default", client.data_converter),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=down), base_url="http://api.test") as http:
        pending = await http.delete(f"/v1/customers/{CUSTOMER}", headers=stack.admin)
    assert pending.status_code == 200, pending.text
    assert pending.json()["already_erased"] is False and pending.json()["temporal"] == "pending"
    assert await _decoded_histories(client, CUSTOMER)  # still there
    async with engine.connect() as conn:  # recorded, for the retrier and `gridjourney privacy pending`
        assert [row.customer_id for row in await erasures.pending(conn)] == [CUSTOMER]

    again = await stack.http.delete(f"/v1/customers/{CUSTOMER}", headers=stack.admin)
    assert again.status_code == 200, again.text
    assert again.json()["already_erased"] is True and again.json()["temporal"] == "deleted"
    assert again.json()["workflows_deleted"] >= len(histories)  # a later-routed event may add one
    async with engine.connect() as conn:  # deleted: pending until a check 30 s later finds none left
        [row] = await erasures.pending(conn)
    assert row.workflows_deleted >= len(histories) and row.last_error is None

    async def gone(workflow_id: str) -> bool:
        try:
            await client.get_workflow_handle(workflow_id).fetch_history()
        except RPCError as error:
            assert error.status == RPCStatusCode.NOT_FOUND, error
            return True
        return False  # Temporal deletes asynchronously: a moment later

    # each history is gone (deletion terminated the running one). Temporal deletes from a queue of its
    # own, here within a second or so (PROMPT_DELETION); the wait allows a minute for a loaded machine.
    for workflow_id in histories:
        await eventually(functools.partial(gone, workflow_id), f"{workflow_id} deleted", attempts=600)

    async def unlisted() -> bool:  # visibility forgets them a moment after the deletion
        return not [w async for w in client.list_workflows(customer_query(CUSTOMER))]

    await eventually(unlisted, "the erased customer's executions gone from visibility", attempts=600)
    kept = await _decoded_histories(client, OTHER)  # nobody else's were touched
    assert kept and any("+13035550166" in text for text in kept.values())
