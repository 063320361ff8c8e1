"""Every SQL statement on `outages` is here."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, any_, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gridjourney.db.tables import customers, outages


async def customers_without_power(conn: AsyncConnection, customer_ids: Collection[str]) -> set[str]:
    """Those of `customer_ids` whose premise, transformer or feeder is in an outage that is not over,
    unless their own premise has been restored already."""
    if not customer_ids:
        return set()
    affected = or_(
        customers.c.premise_id == any_(outages.c.premise_ids),
        customers.c.transformer_id == any_(outages.c.transformer_ids),
        customers.c.feeder_id == any_(outages.c.feeder_ids),
    )
    restored_here = customers.c.premise_id == any_(outages.c.restored_premise_ids)
    rows = await conn.execute(
        select(customers.c.customer_id)
        .distinct()
        .join(outages, and_(outages.c.restored_at.is_(None), affected, not_(restored_here)))
        .where(customers.c.customer_id.in_(list(customer_ids)))
    )
    return {row.customer_id for row in rows}
