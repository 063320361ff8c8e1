"""send_ledger: heap-only (HOT) moves. The status index goes (every move changed an indexed column, so
every move wrote a new entry in each index); open rows get a partial index on their key instead, whose
predicate (`completed_at IS NULL`) only the completion changes; pages keep room for the moves.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 60  # db/tables.py: send_ledger's postgresql_with


def upgrade() -> None:
    op.drop_index("ix_send_ledger_status", table_name="send_ledger")
    op.create_index(
        "ix_send_ledger_open",
        "send_ledger",
        ["idempotency_key"],
        postgresql_where=sa.text("completed_at IS NULL"),
    )
    op.execute(f"ALTER TABLE send_ledger SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    op.execute("ALTER TABLE send_ledger RESET (fillfactor)")
    op.drop_index("ix_send_ledger_open", table_name="send_ledger")
    op.create_index("ix_send_ledger_status", "send_ledger", ["status"])
