"""cohorts: customers' grid location, programs, outages, DR events, cohort runs and members, rate limits

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRID_COLUMNS = ("premise_id", "transformer_id", "feeder_id")


def _ids(name: str) -> sa.Column[object]:
    return sa.Column(name, postgresql.ARRAY(sa.String(length=100)), server_default="{}", nullable=False)


def upgrade() -> None:
    for name in GRID_COLUMNS:
        op.add_column("customers", sa.Column(name, sa.String(length=100), nullable=True))
        op.create_index(f"ix_customers_{name}", "customers", [name])
    op.create_table(
        "customer_programs",
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("program", sa.String(length=100), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "program"),
    )
    op.create_index("ix_customer_programs_program", "customer_programs", ["program"])
    op.create_table(
        "outages",
        sa.Column("incident_id", sa.String(length=100), nullable=False),
        sa.Column("canonical_incident_id", sa.String(length=100), nullable=False),
        _ids("premise_ids"),
        _ids("transformer_ids"),
        _ids("feeder_ids"),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("etr", sa.DateTime(timezone=True), nullable=True),
        _ids("restored_premise_ids"),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id"),
    )
    op.create_index("ix_outages_canonical_incident_id", "outages", ["canonical_incident_id"])
    for name, column in (
        ("ix_outages_premises", "premise_ids"),
        ("ix_outages_transformers", "transformer_ids"),
        ("ix_outages_feeders", "feeder_ids"),
    ):
        op.create_index(name, "outages", [column], postgresql_using="gin")
    op.create_table(
        "dr_events",
        sa.Column("dr_event_id", sa.String(length=100), nullable=False),
        sa.Column("program", sa.String(length=100), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signal_level", sa.Float(), nullable=True),
        sa.Column("target_kw", sa.Float(), nullable=True),
        sa.Column("modification_number", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("dr_event_id"),
    )
    op.create_table(
        "cohort_runs",
        sa.Column("run_id", sa.String(length=300), nullable=False),
        sa.Column("journey_id", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cohort_key", sa.String(length=200), nullable=False),
        sa.Column("trigger_event_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("members", sa.Integer(), server_default="0", nullable=False),
        sa.Column("holdout", sa.Integer(), server_default="0", nullable=False),
        sa.Column("target_kw", sa.Float(), nullable=True),
        sa.Column("expected_kw", sa.Float(), nullable=True),
        sa.Column("subject", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("exit_reason", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
        sa.UniqueConstraint("journey_id", "cohort_key", name="uq_cohort_runs_journey_key"),
    )
    op.create_table(
        "cohort_members",
        sa.Column("run_id", sa.String(length=300), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("member_no", sa.Integer(), nullable=False),
        sa.Column("premise_id", sa.String(length=100), nullable=True),
        sa.Column("transformer_id", sa.String(length=100), nullable=True),
        sa.Column("feeder_id", sa.String(length=100), nullable=True),
        sa.Column("segment", sa.String(length=100), nullable=True),
        sa.Column("holdout", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("expected_kw", sa.Float(), nullable=True),
        sa.Column("step_id", sa.String(length=64), nullable=True),
        sa.Column("track", sa.String(length=100), nullable=True),
        sa.Column("deferred_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arm", sa.String(length=64), nullable=True),
        sa.Column("left_reason", sa.String(length=100), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "customer_id"),
        sa.UniqueConstraint("run_id", "member_no", name="uq_cohort_members_no"),
    )
    op.create_index("ix_cohort_members_track", "cohort_members", ["run_id", "track", "member_no"])
    op.create_table(
        "dr_performance",
        sa.Column("run_id", sa.String(length=300), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=False),
        sa.Column("dr_event_id", sa.String(length=100), nullable=False),
        sa.Column("baseline_kwh", sa.Float(), nullable=False),
        sa.Column("actual_kwh", sa.Float(), nullable=False),
        sa.Column("kwh_saved", sa.Float(), nullable=False),
        sa.Column("credit", sa.Float(), nullable=False),
        sa.Column("responded", sa.Boolean(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "customer_id"),
    )
    op.create_index("ix_dr_performance_dr_event_id", "dr_performance", ["dr_event_id"])
    op.create_table(
        "rate_limit_buckets",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets")
    op.drop_index("ix_dr_performance_dr_event_id", table_name="dr_performance")
    op.drop_table("dr_performance")
    op.drop_index("ix_cohort_members_track", table_name="cohort_members")
    op.drop_table("cohort_members")
    op.drop_table("cohort_runs")
    op.drop_table("dr_events")
    for name in ("ix_outages_feeders", "ix_outages_transformers", "ix_outages_premises"):
        op.drop_index(name, table_name="outages")
    op.drop_index("ix_outages_canonical_incident_id", table_name="outages")
    op.drop_table("outages")
    op.drop_index("ix_customer_programs_program", table_name="customer_programs")
    op.drop_table("customer_programs")
    for name in reversed(GRID_COLUMNS):
        op.drop_index(f"ix_customers_{name}", table_name="customers")
        op.drop_column("customers", name)
