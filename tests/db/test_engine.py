"""The engine's connections send list parameters as binary arrays, and every element arrives as it was."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from psycopg.adapt import PyFormat
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Elements the text array format must quote or escape: quotes, backslashes, braces, commas, spaces,
# the word NULL, an empty string, non-ASCII, and a real null.
AWKWARD = ['say "hi"', "back\\slash", "{braces}", "a,b", " spaced ", "NULL", "", "café ☕", None]


async def test_lists_are_dumped_in_binary(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        adapters = raw.driver_connection.adapters  # type: ignore[union-attr]
        assert adapters.get_dumper(list, PyFormat.AUTO) is ListBinaryDumper


async def test_every_kind_of_element_arrives_as_it_was(engine: AsyncEngine) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    times = [datetime(2026, 7, 1, 12, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
    cases: list[tuple[str, list[Any]]] = [
        ("text[]", AWKWARD),
        ("uuid[]", ids),
        ("timestamptz[]", times),
        ("bigint[]", [0, 1, -(2**40), 2**62]),
        ("double precision[]", [0.5, None, -1e300]),
        ("boolean[]", [True, False, None]),
        ("bytea[]", [b"\x00\xff", b""]),
    ]
    async with engine.connect() as conn:
        for sql_type, values in cases:
            back = (
                await conn.execute(text(f"SELECT CAST(:values AS {sql_type})"), {"values": values})
            ).scalar()
            assert back == values, sql_type
        # An untyped list of str is a text[]: it compares with text-like columns as before.
        found = await conn.execute(
            text("SELECT x FROM unnest(CAST(:all AS varchar[])) AS x WHERE x = ANY(:wanted) ORDER BY x"),
            {"all": ["a", "b", "c"], "wanted": ["c", "a", "z"]},
        )
        assert list(found.scalars()) == ["a", "c"]
        # An empty list still works (psycopg sends it as text: it has no element to type it by).
        none = await conn.execute(text("SELECT cardinality(CAST(:values AS text[]))"), {"values": []})
        assert none.scalar() == 0
