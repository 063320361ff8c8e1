"""The migrations build exactly the schema that db/tables.py declares, and step down and up again."""

from __future__ import annotations

import psycopg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

from gridjourney.db.engine import sqlalchemy_url
from gridjourney.db.migrate import alembic_config, upgrade
from gridjourney.db.tables import metadata
from gridjourney.devstack import postgres_database_url


def _differences(url: str) -> list[object]:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _fresh_database(postgres_url: str, name: str) -> str:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_database_url(postgres_url, name)


def test_head_matches_the_tables_module(postgres_url: str) -> None:
    url = _fresh_database(postgres_url, "migrations_head")
    upgrade(url)
    assert _differences(url) == []


def test_every_migration_steps_down_and_up_again(postgres_url: str) -> None:
    url = _fresh_database(postgres_url, "migrations_roundtrip")
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    command.upgrade(alembic_config(url), "head")
    assert _differences(url) == []
