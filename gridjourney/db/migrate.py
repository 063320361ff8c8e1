"""Run the Alembic migrations programmatically (the CLI, the devstack and the tests all use this), and
tell whether a database's schema is the one this code needs.

Only `gridjourney db upgrade` (gridjourney/cli/db.py) and the embedded stack (devstack.py) migrate; the
long-running commands check with `check_current` and refuse to start on any other schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from gridjourney.db.engine import sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
UPGRADE_COMMAND = "gridjourney db upgrade"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    assert head is not None, f"no migrations in {MIGRATIONS_DIR}"
    return head


def current_revision(database_url: str) -> str | None:
    """The revision the database was migrated to (None: never migrated)."""
    engine = create_engine(sqlalchemy_url(database_url), poolclass=pool.NullPool)
    # Alembic announces its migration context at INFO; a read of the revision is not worth a log line.
    context_logger = logging.getLogger("alembic.runtime.migration")
    level = context_logger.level
    context_logger.setLevel(logging.WARNING)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        context_logger.setLevel(level)
        engine.dispose()


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this code needs; the message (one line) names the way out."""

    def __init__(self, current: str | None, head: str, *, known: bool) -> None:
        self.current = current
        self.head = head
        self.known = known  # False: a revision this code does not know (a newer release migrated it)
        if known:
            at = f"at revision {current}" if current else "not migrated"
            message = f"the database schema is {at}, behind {head}: run `{UPGRADE_COMMAND}` first"
        else:
            message = (
                f"the database schema is at revision {current}, which this release does not know "
                f"(its newest is {head}); run the release that migrated it"
            )
        super().__init__(message)


def check_current(database_url: str) -> None:
    """Raise SchemaNotCurrent unless the database is migrated to this code's head revision."""
    head = head_revision()
    current = current_revision(database_url)
    if current == head:
        return
    script = ScriptDirectory.from_config(alembic_config(database_url))
    known = current is None or any(rev.revision == current for rev in script.walk_revisions())
    raise SchemaNotCurrent(current, head, known=known)
