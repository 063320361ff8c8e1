"""A key's own rate lies between 0.01 and 100,000 write requests a second, at creation (the CLI's
`keys create --rate` and create_key alike), and a key stored with a rate beyond them before (1e-300)
is limited as the nearest bound: never a Retry-After of 300 digits."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import (
    MAX_RATE_PER_SECOND,
    MIN_RATE_PER_SECOND,
    create_key,
    list_keys,
    validate_rate,
)
from gridjourney.db.tables import api_keys
from tests.api.test_auth_operations import _bearer, _event, http  # noqa: F401 (the fixture)
from tests.cli.in_process import gridjourney_in_process


@pytest.mark.parametrize("rate", [1e-300, 0.0099, 0.0, -1.0, 100_001.0, 1e300, float("nan"), float("inf")])
async def test_a_rate_out_of_bounds_is_refused_and_nothing_is_stored(
    engine: AsyncEngine, rate: float
) -> None:
    with pytest.raises(ValueError, match=r"not a rate for a key: give 0\.01 .* to 100,000"):
        await create_key(engine, "x", ["admin"], rate_per_second=rate)
    assert await list_keys(engine) == []


async def test_the_bounds_themselves_are_rates(engine: AsyncEngine) -> None:
    for rate in (MIN_RATE_PER_SECOND, MAX_RATE_PER_SECOND):
        assert validate_rate(rate) == rate
        await create_key(engine, "x", ["admin"], rate_per_second=rate)
    assert sorted(info.rate_per_second or 0 for info in await list_keys(engine)) == [0.01, 100_000.0]


async def test_the_cli_refuses_a_rate_out_of_bounds_as_a_usage_error(database_url: str) -> None:
    for rate in ("1e-300", "1e9"):
        code, output = await gridjourney_in_process(
            database_url, "keys", "create", "--name", "x", "--scope", "admin", "--rate", rate
        )
        assert code == 2, output
        assert "Invalid value for --rate" in output and "not a rate for a key" in output, output
    code, output = await gridjourney_in_process(database_url, "keys", "list")
    assert "no API keys yet" in output, output
    code, output = await gridjourney_in_process(
        database_url, "keys", "create", "--name", "x", "--scope", "admin", "--rate", "0.01"
    )
    assert code == 0, output


async def test_a_key_stored_with_a_tiny_rate_waits_at_most_the_bound(
    engine: AsyncEngine,
    http: httpx.AsyncClient,  # noqa: F811 (the fixture)
) -> None:
    key_id, key = await create_key(engine, "old", ["events:write"])
    async with engine.begin() as conn:  # as a key created before the bounds could be
        await conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(rate_per_second=1e-300))
    first = await http.post("/v1/events", json=_event(), headers=_bearer(key))
    assert first.status_code == 201, first.text
    second = await http.post("/v1/events", json=_event(), headers=_bearer(key))
    assert second.status_code == 429, second.text
    assert 1 <= int(second.headers["retry-after"]) <= 1 / MIN_RATE_PER_SECOND
