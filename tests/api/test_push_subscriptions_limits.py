"""POST /v1/customers/{id}/push-subscriptions against an `events:write` key that aims push at us: a
name resolving to this machine or a private network is refused (422) as the address it resolves to,
and a customer keeps at most GRIDJOURNEY_PUSH_SUBSCRIPTIONS_PER_CUSTOMER browsers, the newest."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.app import create_app
from gridjourney.api.deps import TemporalClientProvider
from gridjourney.config import Settings
from gridjourney.events.store import EventStore
from gridjourney.projections.push_subscriptions import subscriptions_of
from gridjourney.projections.runner import ProjectionRunner
from tests.api.conftest import KeyFactory
from tests.api.test_push_subscriptions import PATH, add_customer, browser_subscription

LIMIT = 3


@pytest.fixture
async def writer(make_key: KeyFactory) -> dict[str, str]:
    return await make_key("events:write")


@pytest.fixture
async def capped_client(
    settings: Settings, engine: AsyncEngine, temporal_provider: TemporalClientProvider
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(update={"push_subscriptions_per_customer": LIMIT}), engine, temporal_provider
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        yield http


@pytest.fixture
async def local_client(
    settings: Settings, engine: AsyncEngine, temporal_provider: TemporalClientProvider
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"push_local_endpoints": True}), engine, temporal_provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        yield http


def names_of_this_machine() -> list[str]:
    """This machine's own name (`vm` here, in /etc/hosts; a container's name resolves to its private
    address), as written by the reviewer, with a port and with the root's trailing dot."""
    hostname = socket.gethostname()
    return [f"https://{hostname}/push/1", f"https://{hostname}:8443/push/1", f"https://{hostname}./push/1"]


@pytest.mark.parametrize("endpoint", names_of_this_machine())
async def test_a_name_resolving_to_this_machine_is_refused_as_the_address_it_resolves_to(
    client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str], endpoint: str
) -> None:
    await add_customer(engine)
    subscription = browser_subscription()
    subscription["endpoint"] = endpoint

    response = await client.post(PATH, json=subscription, headers=writer)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "endpoint", error
    assert f"{socket.gethostname()} resolves to" in error["reason"], error
    assert "this machine or a private network" in error["reason"], error
    assert [e.type for e in await EventStore(engine).read_customer("C-1")] == ["customer.created"]


async def test_with_the_stand_in_setting_such_a_name_is_accepted(
    local_client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str]
) -> None:
    await add_customer(engine)
    subscription = browser_subscription()
    subscription["endpoint"] = names_of_this_machine()[0]
    response = await local_client.post(PATH, json=subscription, headers=writer)
    assert response.status_code == 201, response.text


async def test_a_name_that_does_not_resolve_yet_is_accepted_the_sender_checks_it_then(
    client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str]
) -> None:
    await add_customer(engine)
    subscription = browser_subscription()
    subscription["endpoint"] = "https://fcm.push.invalid/wp/abc"  # .invalid never resolves (RFC 6761)
    response = await client.post(PATH, json=subscription, headers=writer)
    assert response.status_code == 201, response.text


async def test_a_port_out_of_range_is_422(
    client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str]
) -> None:
    await add_customer(engine)
    subscription = browser_subscription()
    subscription["endpoint"] = "https://push.example.net:99999/wp/abc"
    response = await client.post(PATH, json=subscription, headers=writer)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "endpoint", error


async def endpoints_kept(engine: AsyncEngine) -> list[str]:
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        return [s.endpoint for s in await subscriptions_of(conn, "C-1")]


async def test_beyond_the_limit_a_new_subscription_replaces_the_oldest(
    capped_client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str]
) -> None:
    await add_customer(engine)
    browsers = [browser_subscription() for _ in range(LIMIT + 2)]
    answers = []
    for browser in browsers:
        response = await capped_client.post(PATH, json=browser, headers=writer)
        assert response.status_code == 201, response.text
        answers.append(response.json())
        await ProjectionRunner(engine).catch_up()

    assert [a["replaced"] for a in answers] == [
        [],
        [],
        [],
        [browsers[0]["endpoint"]],
        [browsers[1]["endpoint"]],
    ]
    assert await endpoints_kept(engine) == [b["endpoint"] for b in browsers[-LIMIT:]]
    removed = [
        e.payload for e in await EventStore(engine).read_customer("C-1") if e.type == "push.unsubscribed"
    ]
    assert [r["endpoint"] for r in removed] == [browsers[0]["endpoint"], browsers[1]["endpoint"]]
    assert all(f"at most {LIMIT}" in r["reason"] for r in removed)

    # The browsers it keeps registering again (same keys: nothing; rotated keys: a refresh) replace none.
    kept = browsers[-1]
    assert (await capped_client.post(PATH, json=kept, headers=writer)).status_code == 200
    refreshed = {**kept, "keys": browser_subscription()["keys"]}
    again = await capped_client.post(PATH, json=refreshed, headers=writer)
    assert again.status_code == 201 and again.json()["replaced"] == [], again.text
    assert await endpoints_kept(engine) == [b["endpoint"] for b in browsers[-LIMIT:-1]] + [kept["endpoint"]]


async def test_a_subscription_taken_over_from_another_customer_counts_once(
    capped_client: httpx.AsyncClient, engine: AsyncEngine, writer: dict[str, str]
) -> None:
    """A browser profile that moves to this customer is one more of theirs, not one more for the
    other: the other customer's count is not this one's."""
    await add_customer(engine)
    await add_customer(engine, "C-2")
    other = "/v1/customers/C-2/push-subscriptions"
    shared = browser_subscription()
    assert (await capped_client.post(other, json=shared, headers=writer)).status_code == 201
    mine = [browser_subscription() for _ in range(LIMIT - 1)]
    for browser in mine:
        assert (await capped_client.post(PATH, json=browser, headers=writer)).status_code == 201
    await ProjectionRunner(engine).catch_up()
    taken = await capped_client.post(PATH, json=shared, headers=writer)
    assert taken.status_code == 201 and taken.json()["replaced"] == [], taken.text
    assert len(await endpoints_kept(engine)) == LIMIT


def test_the_limit_is_a_setting_of_one_to_a_hundred(settings: Settings) -> None:
    assert Settings.model_fields["push_subscriptions_per_customer"].default == 10
    for refused in (0, 101):
        with pytest.raises(ValueError, match="push_subscriptions_per_customer"):
            Settings.model_validate({**settings.model_dump(), "push_subscriptions_per_customer": refused})
