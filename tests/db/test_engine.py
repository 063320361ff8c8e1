"""The engine's connections send list parameters as binary arrays (plain strings as a text[] literal),
and every element arrives as it was."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.engine import ListDumper

# Elements the text array format must quote or escape: quotes, backslashes, braces, commas, spaces,
# the word NULL, an empty string, non-ASCII, and a real null.
AWKWARD = ['say "hi"', "back\\slash", "{braces}", "a,b", " spaced ", "NULL", "", "café ☕", None]
# Strings the text[] literal carries without an escape (inside its quotes), as a batch's ids are.
PLAIN = ["{braces}", "a,b", " spaced\t", "NULL", "", "café ☕", "cus_000001", "}", "{"]


async def test_lists_are_dumped_in_binary_and_plain_strings_as_text(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        adapters = raw.driver_connection.adapters  # type: ignore[union-attr]
        assert adapters.get_dumper(list, PyFormat.AUTO) is ListDumper
        dumpers = Transformer(raw.driver_connection)
        formats = {
            "plain": dumpers.get_dumper(PLAIN, PyFormat.AUTO).format,
            "json": dumpers.get_dumper(['{"a": 1}', "x"], PyFormat.AUTO).format,
            "with None": dumpers.get_dumper(["a", None], PyFormat.AUTO).format,
            "numbers": dumpers.get_dumper([1, 2], PyFormat.AUTO).format,
            "asked binary": dumpers.get_dumper(PLAIN, PyFormat.BINARY).format,
        }
        binary = pq.Format.BINARY
        assert formats == {
            "plain": pq.Format.TEXT,
            "json": binary,
            "with None": binary,
            "numbers": binary,
            "asked binary": binary,
        }


async def test_every_kind_of_element_arrives_as_it_was(engine: AsyncEngine) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    times = [datetime(2026, 7, 1, 12, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
    cases: list[tuple[str, list[Any]]] = [
        ("text[]", AWKWARD),
        ("text[]", PLAIN),
        ("text[]", [""]),
        ("varchar[]", ["one"]),
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
        # Each awkward string alone (no None beside it to send the list binary) arrives as it was.
        for value in AWKWARD[:-1]:
            back = (
                await conn.execute(text("SELECT CAST(:values AS text[])"), {"values": [value, "x"]})
            ).scalar()
            assert back == [value, "x"], value
        # An empty list still works (psycopg sends it as text: it has no element to type it by).
        none = await conn.execute(text("SELECT cardinality(CAST(:values AS text[]))"), {"values": []})
        assert none.scalar() == 0
    # A NUL is refused by Postgres whichever way it is sent; it never splits an element in two.
    async with engine.connect() as conn:
        with pytest.raises(DataError):
            await conn.execute(text("SELECT CAST(:values AS text[])"), {"values": ["a\x00b"]})
