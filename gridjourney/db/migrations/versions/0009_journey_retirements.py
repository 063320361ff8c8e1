"""journey_retirements: a journey a marketer retired starts no new runs until reinstated (the row is
deleted then). Kept apart from the immutable journey_versions, so a new version of a retired journey
stays retired.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "journey_retirements",
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("retired_by", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("journey_retirements")
