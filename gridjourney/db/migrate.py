"""Run the Alembic migrations programmatically (the CLI, the devstack and the tests all use this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from gridjourney.db.engine import sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
