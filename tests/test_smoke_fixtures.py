from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_database_is_migrated(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        tables = set(
            (await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))).scalars()
        )
    assert {"events", "customers", "send_ledger", "journey_versions"} <= tables
