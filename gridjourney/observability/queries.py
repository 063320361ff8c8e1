"""All SQL of the metrics read at scrape time: the send ledger's rows in doubt. (Subscription lag and
dead letters come from events/subscription_status.py, the same figures as `/healthz`.)"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.activities.ledger_rows import IN_DOUBT, is_open, unowned
from gridjourney.db.tables import send_ledger


async def ledger_rows_in_doubt(conn: AsyncConnection) -> dict[str, int]:
    """Rows whose provider may have the message while no attempt holds them, by status (calling,
    ambiguous): what `gridjourney sends resolve` is for. A call in flight is not in doubt."""
    query = (
        select(send_ledger.c.status, func.count())
        .where(is_open(), send_ledger.c.status.in_(IN_DOUBT), unowned())
        .group_by(send_ledger.c.status)
    )
    found = {str(row[0]): int(row[1]) for row in await conn.execute(query)}
    return {status: found.get(status, 0) for status in IN_DOUBT}
