"""sending: ledger ownership and caps, webhook receipts, suppressions, push subscriptions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def ledger_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("owner", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purpose", sa.String(length=20), nullable=True),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("journey_id", sa.String(length=100), nullable=True),
        sa.Column("step_id", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    for column in ledger_columns():
        op.add_column("send_ledger", column)
    op.create_index("ix_send_ledger_customer_reserved", "send_ledger", ["customer_id", "reserved_at"])
    op.create_index("ix_send_ledger_status", "send_ledger", ["status"])
    # Inbound SMS find their customer by the number they come from (inbound/twilio_inbound.py).
    op.create_index("ix_customers_phone", "customers", ["phone"])
    # A message deferred by quiet hours: when it will be asked for again (projections/messages.py).
    op.add_column("messages", sa.Column("deferred_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "webhook_receipts",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("receipt_id", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("provider", "receipt_id"),
    )
    op.create_table(
        "suppressions",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=1000), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "channel", "address"),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("endpoint_sha256", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint_sha256"),
    )
    op.create_index("ix_push_subscriptions_customer_id", "push_subscriptions", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_push_subscriptions_customer_id", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
    op.drop_table("suppressions")
    op.drop_table("webhook_receipts")
    op.drop_column("messages", "deferred_until")
    op.drop_index("ix_customers_phone", table_name="customers")
    op.drop_index("ix_send_ledger_status", table_name="send_ledger")
    op.drop_index("ix_send_ledger_customer_reserved", table_name="send_ledger")
    for column in reversed(ledger_columns()):
        op.drop_column("send_ledger", column.name)
