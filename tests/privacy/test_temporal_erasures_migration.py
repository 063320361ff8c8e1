"""Migration 0011 gives every customer erased before it a pending Temporal part: whether their
workflow executions were deleted was never recorded, so the retrier checks (a retry that finds
nothing completes it at once)."""

from __future__ import annotations

import psycopg

from gridjourney.db.migrate import upgrade
from gridjourney.devstack import postgres_database_url


def test_customers_erased_before_the_migration_are_pending_after_it(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE erasures_0011")
    url = postgres_database_url(postgres_url, "erasures_0011")
    upgrade(url, "0010")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO customer_keys (customer_id, erased_at) VALUES "
            "('C-OLD-ERASED', '2026-11-20 10:00+00'), ('C-ALIVE', NULL)"
        )
    upgrade(url)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT customer_id, erased_at = '2026-11-20 10:00+00', attempts, completed_at "
            "FROM temporal_erasures"
        ).fetchall()
    assert rows == [("C-OLD-ERASED", True, 0, None)]
