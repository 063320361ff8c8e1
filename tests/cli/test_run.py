"""`gridjourney worker --queues`: which task queues a worker serves; `gridjourney run`: how long the demo's
local VTN lives."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

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


async def test_every_taken_port_is_named_at_once_before_anything_starts(
    database_url: str, tmp_path: Path
) -> None:
    """Two of the stack's ports are taken: one message names both and the settings that move them,
    and nothing was started (no Postgres or Temporal directory under the home)."""
    with socket.socket() as api, socket.socket() as temporal_ui:
        for sock in (api, temporal_ui):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        api_port, ui_port = api.getsockname()[1], temporal_ui.getsockname()[1]
        code, out = await gridjourney(
            database_url,
            "run",
            "--no-demo",
            GRIDJOURNEY_HOME=str(tmp_path),
            GRIDJOURNEY_API_HOST="127.0.0.1",
            GRIDJOURNEY_API_PORT=str(api_port),
            GRIDJOURNEY_TEMPORAL_UI_PORT=str(ui_port),
            GRIDJOURNEY_TEMPORAL_PORT=str(free_port()),
            GRIDJOURNEY_SMS_STANDIN_PORT=str(free_port()),
            GRIDJOURNEY_PUSH_STANDIN_PORT=str(free_port()),
            GRIDJOURNEY_EMAIL_STANDIN_PORT=str(free_port()),
        )
    assert code == 2, out
    flat = " ".join(out.split())
    assert "2 ports are already in use" in flat
    assert f"port {api_port} on 127.0.0.1: the API (GRIDJOURNEY_API_PORT=...)" in flat
    assert f"port {ui_port} on 127.0.0.1: the Temporal UI (GRIDJOURNEY_TEMPORAL_UI_PORT=...)" in flat
    assert not (tmp_path / "postgres").exists() and not (tmp_path / "temporal").exists()


async def test_a_journey_file_that_is_not_utf8_stops_the_stack_with_its_position(
    database_url: str, tmp_path: Path
) -> None:
    """Saved as Latin-1 (café): one located line and exit 2, after the servers it started are stopped
    (it was a UnicodeDecodeError traceback)."""
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "latin.yaml").write_bytes(b"id: latin\nname: caf\xe9\n")
    ports = {
        f"GRIDJOURNEY_{name}": str(free_port())
        for name in (
            "API_PORT",
            "TEMPORAL_PORT",
            "TEMPORAL_UI_PORT",
            "SMS_STANDIN_PORT",
            "PUSH_STANDIN_PORT",
            "EMAIL_STANDIN_PORT",
        )
    }
    code, out = await gridjourney(
        database_url,
        "run",
        "--no-demo",
        GRIDJOURNEY_HOME=str(tmp_path / "home"),
        GRIDJOURNEY_JOURNEYS_DIR=str(journeys),
        GRIDJOURNEY_API_HOST="127.0.0.1",
        **ports,
    )
    assert code == 2, out
    assert f"error: {journeys / 'latin.yaml'}:2:10: not UTF-8 (byte 0xe9)" in " ".join(out.split())
    assert "Traceback" not in out
    assert not _answers(int(ports["GRIDJOURNEY_TEMPORAL_PORT"]))  # the dev server it started is stopped


@pytest.mark.parametrize("policy", [None, "senders: [unclosed\n"])
async def test_a_policy_that_cannot_be_read_stops_the_stack_before_anything_starts(
    database_url: str, tmp_path: Path, policy: str | None
) -> None:
    """Missing or broken: one located line and exit 2 (it was an ExceptionGroup traceback out of the
    workers' task group, after the stack had said it was running)."""
    policy_file = tmp_path / "policy.yaml"
    if policy is not None:
        policy_file.write_text(policy)
    code, out = await gridjourney(
        database_url,
        "run",
        "--no-demo",
        GRIDJOURNEY_HOME=str(tmp_path / "home"),
        GRIDJOURNEY_POLICY_FILE=str(policy_file),
    )
    assert code == 2, out
    assert f"error: {policy_file}:" in " ".join(out.split())
    assert "Traceback" not in out and "Running" not in out
    assert not (tmp_path / "home").exists()  # nothing was started
