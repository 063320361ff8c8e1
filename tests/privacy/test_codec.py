"""The payload codec: histories on the real dev server hold no personal data for a reader without
the key (the Temporal CLI, as an operator or an attacker with database access would read them), and
keys rotate by key id."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from gridjourney.privacy.codec import ENCODING, KEY_ID_METADATA, EncryptionCodec
from gridjourney.privacy.keyring import Keyring, UnknownKeyId
from gridjourney.temporal import temporal_cli_path
from gridjourney.workflows.contracts import CustomerContext, JourneyState
from gridjourney.workflows.journey import JourneyWorkflow
from tests.workflows.helpers import start, waiting_at
from tests.workflows.standins import StandIns, compiled, event, running_workers

NAME, PHONE, EMAIL = "Zelda Quintanilla", "+15035550199", "zelda.q@example.com"

WELCOME = """
id: privacy_welcome
purpose: informational
trigger: {event: customer.created}
entry: {reentry: every_trigger}
steps:
  - id: hello
    send: {channels: [sms], template: welcome}
  - id: pause
    wait: 1d
"""


def _payload_data(node: Any) -> Iterator[bytes]:
    """The decoded data of every payload in a history as JSON (search attributes excepted: opaque ids)."""
    if isinstance(node, dict):
        if "encoding" in node.get("metadata", {}):
            yield base64.b64decode(node.get("data", ""))
        for key, value in node.items():
            if key != "searchAttributes":
                yield from _payload_data(value)
    elif isinstance(node, list):
        for value in node:
            yield from _payload_data(value)


async def _show_without_codec(env: WorkflowEnvironment, workflow_id: str) -> str:
    """`temporal workflow show` as JSON: the CLI knows no codec."""
    process = await asyncio.create_subprocess_exec(
        str(temporal_cli_path()),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--address",
        env.client.service_client.config.target_host,
        "--namespace",
        env.client.namespace,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_a_history_read_without_the_codec_holds_no_personal_data(
    temporal_dev_env: WorkflowEnvironment,
) -> None:
    customer = f"c-{uuid.uuid4().hex[:8]}"
    standins = StandIns()
    standins.customers[customer] = CustomerContext(customer_id=customer, name=NAME)
    trigger = event("customer.created", customer, name=NAME, phone=PHONE, email=EMAIL)
    async with running_workers(temporal_dev_env.client, standins):
        handle: WorkflowHandle[JourneyWorkflow, JourneyState] = await start(
            temporal_dev_env, compiled(WELCOME), customer, trigger
        )
        await waiting_at(handle, "pause")  # the trigger, the context and the send are in the history
    try:
        shown = await _show_without_codec(temporal_dev_env, handle.id)
        history = json.loads(shown)
        datas = list(_payload_data(history))
        assert datas, "the history has payloads"
        for secret in (NAME, PHONE, EMAIL):
            assert secret not in shown
            assert all(secret.encode() not in data for data in datas)
        # the data is there, sealed: the stack's own client (with the codec) reads it back
        sealed = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
        assert all(payload.metadata["encoding"] == ENCODING for payload in sealed.input.payloads)
        codec = temporal_dev_env.client.data_converter.payload_codec
        assert codec is not None
        opened = await codec.decode(sealed.input.payloads)
        assert any(PHONE.encode() in payload.data for payload in opened)
    finally:
        await handle.terminate("test over")


def _keyring(*key_ids: str, active: str) -> Keyring:
    return Keyring({key_id: key_id.encode().ljust(32, b"-") for key_id in key_ids}, active)


async def test_a_payload_sealed_with_an_old_key_opens_after_rotation() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps({"phone": PHONE}).encode())
    [sealed] = await EncryptionCodec(_keyring("2026-10", active="2026-10")).encode([plain])
    assert sealed.metadata[KEY_ID_METADATA] == b"2026-10"
    assert PHONE.encode() not in sealed.data

    rotated = EncryptionCodec(_keyring("2026-10", "2026-11", active="2026-11"))
    assert await rotated.decode([sealed]) == [plain]
    [resealed] = await rotated.encode([plain])
    assert resealed.metadata[KEY_ID_METADATA] == b"2026-11"

    retired = EncryptionCodec(_keyring("2026-11", active="2026-11"))
    with pytest.raises(UnknownKeyId, match="2026-10"):
        await retired.decode([sealed])


async def test_unsealed_payloads_pass_through_and_altered_ones_are_refused() -> None:
    codec = EncryptionCodec(_keyring("k1", active="k1"))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"recorded before the codec"')
    assert await codec.decode([plain]) == [plain]

    [sealed] = await codec.encode([plain])
    altered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(InvalidTag):
        await codec.decode([altered])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"k2"}, data=sealed.data)
    with pytest.raises(InvalidTag):  # the key id is authenticated: it cannot be swapped
        await EncryptionCodec(Keyring({"k1": b"1" * 32, "k2": b"1" * 32}, "k1")).decode([relabelled])
