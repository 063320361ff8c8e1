"""Async engines and the URL forms Postgres is reached by."""

from __future__ import annotations

from typing import Any

from psycopg import pq
from psycopg.abc import Buffer, DumperKey
from psycopg.adapt import PyFormat
from psycopg.postgres import types as postgres_types
from psycopg.types.array import BaseListDumper, ListBinaryDumper
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def sqlalchemy_url(url: str) -> str:
    """Accept a plain `postgresql://` URL (as psql and pgserver give) and name the psycopg driver."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.removeprefix("postgres://")
    return url


def libpq_url(url: str) -> str:
    """The same URL without the SQLAlchemy driver name, for psycopg's own connections (LISTEN)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An engine whose pool hands out the connection returned last (`pool_use_lifo`): the busy
    statements then run on a few warm connections, where psycopg prepares each after its fifth use
    (`prepare_threshold`), instead of being spread thin over the whole pool and planned anew each
    time. psycopg forgets a connection's prepared statements at each ROLLBACK, so the busy paths end
    their read-only transactions with begin() (COMMIT), not connect() (ROLLBACK)."""
    engine = create_async_engine(
        sqlalchemy_url(url), pool_size=pool_size, max_overflow=20, pool_pre_ping=True, pool_use_lifo=True
    )
    event.listen(engine.sync_engine, "connect", _arrays_in_binary)
    return engine


def _arrays_in_binary(dbapi_connection: Any, _record: object) -> None:
    """Send list parameters (the batch statements' arrays) in Postgres's binary array format, and a
    list of plain strings as a text[] literal (ListDumper below).

    psycopg's text format quotes and escapes every element with a regular expression in Python: a
    batch's JSON payloads and keys cost ~75 us a row that way, ~9 us in binary (and Postgres reads a
    binary array without parsing quotes). A binary array names its element type, so a list of str is
    a text[] (not an untyped literal): compare it with text-like columns, or cast it.
    """
    dbapi_connection.driver_connection.adapters.register_dumper(list, ListDumper)


_TEXT_ARRAY_OID = postgres_types["text"].array_oid


def _plain_texts(items: list[Any]) -> str | None:
    """The elements joined by NUL when every one is a str needing no escape in Postgres's text array
    format (no quote, no backslash, no NUL of its own), else None."""
    try:
        body = "\x00".join(items)  # a TypeError for None, a number or a nested list
    except TypeError:
        return None
    if '"' in body or "\\" in body or body.count("\x00") != len(items) - 1:
        return None
    return body


class ListDumper(ListBinaryDumper):
    """Lists in binary (above), except a list of plain strings: that goes as a text[] literal.

    The binary format asks Python for every element (its dumper, its length, two appends: ~0.2 us
    each, and a batch statement's ids, keys, types and channels are hundreds of elements), where a
    text array of strings that need no escape is one join: `{"a","b"}`. Strings with a quote or a
    backslash (JSON payloads), and lists with a None or another type, stay binary. Either way the
    parameter is a text[] and every element arrives as it was (tests/db/test_engine.py).
    """

    def get_key(self, obj: list[Any], format: PyFormat) -> DumperKey:
        if obj and format != PyFormat.BINARY and _plain_texts(obj) is not None:
            return _PlainTextList
        return super().get_key(obj, format)

    def upgrade(self, obj: list[Any], format: PyFormat) -> BaseListDumper:
        if obj and format != PyFormat.BINARY and _plain_texts(obj) is not None:
            return _PlainTextList(self.cls, self._tx)
        return super().upgrade(obj, format)


class _PlainTextList(BaseListDumper):
    """A non-empty list of str that _plain_texts accepts, as a text[] literal (ListDumper)."""

    format = pq.Format.TEXT
    oid = _TEXT_ARRAY_OID

    def dump(self, obj: list[Any]) -> Buffer | None:
        body = _plain_texts(obj)
        assert body is not None  # ListDumper.get_key picks this dumper only for such a list
        return ('{"' + body.replace("\x00", '","') + '"}').encode(self._tx.encoding)
