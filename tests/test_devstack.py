"""The embedded Temporal dev server kept running by `gridjourney run`: the real CLI server, killed."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from temporalio.client import Client

from gridjourney.devstack import TemporalDevServer
from tests.ports import free_port


def _server(home: Path) -> TemporalDevServer:
    return TemporalDevServer(home, port=free_port(), ui_port=free_port())


async def _answers(server: TemporalDevServer, within: float = 60.0) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        try:
            client = await Client.connect(server.address)
            await client.service_client.check_health()
            return True
        except RuntimeError:
            await asyncio.sleep(0.5)
    return False


async def test_a_dev_server_that_dies_is_started_again_and_keeps_its_data(tmp_path: Path) -> None:
    server = _server(tmp_path)
    server.start()
    assert server.process is not None
    killed = server.process.pid
    said: list[str] = []
    stop = asyncio.Event()
    keeper = asyncio.create_task(server.keep_running(stop, said.append, poll=0.2))
    try:
        os.kill(killed, signal.SIGKILL)
        deadline = asyncio.get_running_loop().time() + 60
        while len(said) < 2 and asyncio.get_running_loop().time() < deadline:  # "stopped", then "back"
            await asyncio.sleep(0.2)
        assert server.process.pid != killed
        assert await _answers(server)
        assert said == [
            "the Temporal dev server stopped (exit code -9); starting it again",
            "the Temporal dev server is back; the runs carry on",
        ]
        assert (tmp_path / "temporal.sqlite").exists()  # the same file: its runs carry on
    finally:
        stop.set()
        kept = await keeper
        server.stop()
    assert kept is True


async def test_a_dev_server_that_keeps_dying_is_given_up_and_said_so(tmp_path: Path) -> None:
    server = _server(tmp_path)
    server.start()
    assert server.process is not None
    said: list[str] = []
    try:
        os.kill(server.process.pid, signal.SIGKILL)
        kept = await asyncio.wait_for(
            server.keep_running(asyncio.Event(), said.append, poll=0.2, most_restarts=0), timeout=30
        )
    finally:
        server.stop()
    assert kept is False
    assert len(said) == 1
    assert said[0].startswith("the Temporal dev server keeps stopping (exit code -9; 1 exit in 60 s); see ")
