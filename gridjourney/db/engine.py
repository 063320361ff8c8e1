"""Async engines and the URL forms Postgres is reached by."""

from __future__ import annotations

from typing import Any

from psycopg.types.array import ListBinaryDumper
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
    """Send list parameters (the batch statements' arrays) in Postgres's binary array format.

    psycopg's text format quotes and escapes every element with a regular expression in Python: a
    batch's JSON payloads and keys cost ~75 us a row that way, ~9 us in binary (and Postgres reads a
    binary array without parsing quotes). A binary array names its element type, so a list of str is
    a text[] (not an untyped literal): compare it with text-like columns, or cast it.
    """
    dbapi_connection.driver_connection.adapters.register_dumper(list, ListBinaryDumper)
