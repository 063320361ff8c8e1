"""hardening: event fingerprints, dead letters, per-customer keys, erased customers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("fingerprint", sa.String(length=64), nullable=True))
    op.create_table(
        "dead_letters",
        sa.Column("subscription", sa.String(length=100), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("subscription", "position"),
    )
    op.create_table(
        "customer_keys",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("wrapping_key_id", sa.String(length=40), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.add_column("customers", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("routed_instances", sa.Column("entered_at", sa.DateTime(timezone=True), nullable=True))
    # Entries made before this column: the instance's entry as the projection recorded it.
    op.execute(
        "UPDATE routed_instances r SET entered_at = j.entered_at"
        " FROM journey_instances j WHERE j.instance_id = r.instance_id"
    )


def downgrade() -> None:
    op.drop_column("routed_instances", "entered_at")
    op.drop_column("customers", "erased_at")
    op.drop_table("customer_keys")
    op.drop_table("dead_letters")
    op.drop_column("events", "fingerprint")
