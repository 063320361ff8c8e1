"""temporal_erasures: the Temporal part of each erasure (the deletion of the customer's workflow
executions), pending until done, so that it is retried and every erasure can be shown complete.
Customers erased before this revision get a pending row: whether their Temporal part completed was
never recorded, and a retry that finds nothing left completes it at once.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "temporal_erasures",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column(
            "next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("workflows_deleted", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(
        "INSERT INTO temporal_erasures (customer_id, erased_at) "
        "SELECT customer_id, erased_at FROM customer_keys WHERE erased_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("temporal_erasures")
