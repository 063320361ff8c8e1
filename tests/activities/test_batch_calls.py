"""GroupCommit (activities/batch_calls.py): what is handed in while a write is under way goes in the
next write; with `gather`, what comes within the gathering time joins the first write."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from gridjourney.activities.batch_calls import GroupCommit


class Writes:
    def __init__(self) -> None:
        self.groups: list[list[int]] = []

    async def __call__(self, items: list[int]) -> Collection[int]:
        self.groups.append(items)
        await asyncio.sleep(0)  # a write yields to the loop, as a database round trip does
        return [item for item in items if item != 99]  # 99: refused by the write


async def hand_in_after_the_writer_started(commit: GroupCommit[int]) -> tuple[set[int], set[int]]:
    first = asyncio.create_task(commit([1, 2, 99]))
    for _ in range(3):  # the first call starts the writer, which writes or gathers
        await asyncio.sleep(0)
    second = asyncio.create_task(commit([3]))
    return await first, await second


async def test_without_gathering_a_write_goes_at_once_and_later_items_make_the_next() -> None:
    writes = Writes()
    commit = GroupCommit[int](writes)
    assert await hand_in_after_the_writer_started(commit) == ({1, 2}, {3})
    assert writes.groups == [[1, 2, 99], [3]]
    assert commit.writes == 2


async def test_items_handed_in_while_the_writer_gathers_share_its_write() -> None:
    writes = Writes()
    commit = GroupCommit[int](writes, gather=0.05)
    assert await hand_in_after_the_writer_started(commit) == ({1, 2}, {3})
    assert writes.groups == [[1, 2, 99, 3]]
    assert commit.writes == 1


async def test_a_failed_write_fails_each_caller_of_its_group() -> None:
    async def failing(items: list[int]) -> Collection[int]:
        raise OSError("the database went away")

    commit = GroupCommit[int](failing, gather=0.01)
    calls = [asyncio.create_task(commit([n])) for n in range(3)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(r) for r in results] == [OSError] * 3
    assert commit.writes == 1
