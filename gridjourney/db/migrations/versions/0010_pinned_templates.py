"""template_sources and journey_version_templates: a published journey version pins the exact sources
of the templates it sends (stored once per sha256), and its sends render from them, so an edit of
`templates/` reaches only versions published after it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "template_sources",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
    )
    op.create_table(
        "journey_version_templates",
        sa.Column("journey_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("template_sources.sha256"), nullable=False),
        sa.PrimaryKeyConstraint("journey_id", "version", "path"),
        sa.ForeignKeyConstraint(
            ["journey_id", "version"], ["journey_versions.journey_id", "journey_versions.version"]
        ),
    )


def downgrade() -> None:
    op.drop_table("journey_version_templates")
    op.drop_table("template_sources")
