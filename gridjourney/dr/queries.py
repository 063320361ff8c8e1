"""Every SQL statement on `dr_performance` (and the DR reads of the report) is here."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import dr_performance


async def performance_of(
    conn: AsyncConnection, run_id: str, customer_ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """customer id → the `performance` namespace of their templates, for members with figures."""
    if not customer_ids:
        return {}
    rows = await conn.execute(
        select(
            dr_performance.c.customer_id,
            dr_performance.c.kwh_saved,
            dr_performance.c.credit,
            dr_performance.c.responded,
        ).where(dr_performance.c.run_id == run_id, dr_performance.c.customer_id.in_(list(customer_ids)))
    )
    return {
        row.customer_id: {
            "known": True,
            "kwh_saved": round(row.kwh_saved, 1),
            "credit": round(row.credit, 2),
            "responded": row.responded,
        }
        for row in rows
    }
