"""Async engines and the URL forms Postgres is reached by."""

from __future__ import annotations

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
    return create_async_engine(sqlalchemy_url(url), pool_size=pool_size, max_overflow=20, pool_pre_ping=True)
