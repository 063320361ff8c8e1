"""`gridjourney worker --queues`: which task queues a worker serves."""

from __future__ import annotations

from tests.cli.test_subscriptions import gridjourney


async def test_an_unknown_queue_is_refused_before_anything_starts(database_url: str) -> None:
    code, out = await gridjourney(database_url, "worker", "--queues", "send,mail")
    assert code == 2
    assert "'send,mail': name one or both of journeys, send" in out
