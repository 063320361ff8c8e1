"""An erased member's DR figures: erasure deletes them, and figures a batch computed from reads it
read before the erasure committed are not written after it (dr/queries.py upsert_performance)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.db.tables import dr_performance
from gridjourney.dr.performance import MemberPerformance
from gridjourney.dr.queries import performance_of, upsert_performance
from gridjourney.events.store import EventStore
from gridjourney.privacy.erasure import erase_customer
from tests.events.builders import new_event

RUN = "cohort:dr_event:PTR-9"


async def _figures(engine: AsyncEngine, customer_ids: list[str]) -> None:
    figures = [
        MemberPerformance(customer_id, baseline_kwh=4.0, actual_kwh=3.0) for customer_id in customer_ids
    ]
    async with engine.begin() as conn:
        await upsert_performance(conn, RUN, "PTR-9", figures, credit_per_kwh=0.5)


async def _rows(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        query = select(dr_performance.c.customer_id).order_by(dr_performance.c.customer_id)
        return list((await conn.execute(query)).scalars())


async def test_an_erased_members_figures_are_deleted_and_never_written_again(engine: AsyncEngine) -> None:
    store = EventStore(engine)
    await store.append([new_event("customer.created", c, {"name": c}) for c in ("c-gone", "c-stays")])
    await _figures(engine, ["c-gone", "c-stays"])
    assert await _rows(engine) == ["c-gone", "c-stays"]

    assert await erase_customer(engine, store, "c-gone") is not None
    assert await _rows(engine) == ["c-stays"]
    # a batch that read the reads before the erasure records its figures after it: not theirs
    await _figures(engine, ["c-gone", "c-stays"])
    assert await _rows(engine) == ["c-stays"]
    async with engine.connect() as conn:
        assert set(await performance_of(conn, RUN, ["c-gone", "c-stays"])) == {"c-stays"}
