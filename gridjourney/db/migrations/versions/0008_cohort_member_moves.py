"""cohort_members: heap-only (HOT) moves. The track index goes: every move (a batch's members on to the
next step, or finished) changed its `track`, so every move was a new row version with an entry in each
of the three indexes. A batch reads its members over a member_no range of the run, which the run's
member_no key (`uq_cohort_members_no`) serves, filtering the track; a move names its members by the
primary key. Pages keep room for a move of each member (fill factor 50), so the new version stays on
its page and no index is written.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 22:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 50  # db/tables.py: cohort_members' postgresql_with


def upgrade() -> None:
    op.drop_index("ix_cohort_members_track", table_name="cohort_members")
    op.execute(f"ALTER TABLE cohort_members SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    op.execute("ALTER TABLE cohort_members RESET (fillfactor)")
    op.create_index("ix_cohort_members_track", "cohort_members", ["run_id", "track", "member_no"])
