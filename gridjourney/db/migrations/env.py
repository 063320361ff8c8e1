"""Alembic environment: synchronous psycopg connection, metadata from db/tables.py."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from gridjourney.db.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None, "sqlalchemy.url must be set (gridjourney.db.migrate.alembic_config)"

connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
