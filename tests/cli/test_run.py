"""`gridjourney worker --queues`: which task queues a worker serves; `gridjourney run`: how long the demo's
local VTN lives."""

from __future__ import annotations

import socket
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.cli.run import DemoVtn
from gridjourney.config import Settings
from tests.cli.test_subscriptions import gridjourney
from tests.openadr.test_stack import free_port


async def test_an_unknown_queue_is_refused_before_anything_starts(database_url: str) -> None:
    code, out = await gridjourney(database_url, "worker", "--queues", "send,mail")
    assert code == 2
    assert "'send,mail': name one or both of journeys, send" in out


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("keep", [True, False])
async def test_the_demo_s_vtn_outlives_the_demo_only_with_local_vtn(engine: AsyncEngine, keep: bool) -> None:
    """GRIDJOURNEY_LOCAL_VTN=true: after the demo, its VTN keeps answering (an operator's `gridjourney dr
    vtn-event` reaches it) until the stack stops; otherwise it stops with the demo."""
    port = free_port()
    settings = Settings(ven_name=f"gridjourney-test-{uuid.uuid4().hex[:8]}", local_vtn_port=port)
    async with DemoVtn(keep=keep) as demo_vtn:
        vtn = await demo_vtn.open(engine, settings)
        assert vtn.port == port and _answers(port)
        await demo_vtn.demo_ended()
        assert _answers(port) is keep
        assert (demo_vtn.kept is vtn) is keep
    assert not _answers(port)
