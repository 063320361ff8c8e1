"""GET /v1/suppressions and DELETE /v1/suppressions/{channel}/{address}: admin only, masked, paged."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.events.store import EventStore
from gridjourney.privacy.address_hash import ANYONE, address_hash
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.projections.suppressions import suppressed_addresses, suppression_added
from tests.api.conftest import KeyFactory
from tests.events.builders import new_event

PHONE = "+15035550100"
EMAIL = "ana@example.com"
ENDPOINT = "https://push.example/wpush/v2/abc"


async def suppress(engine: AsyncEngine, *rows: tuple[str, str, str, str]) -> None:
    new = [suppression_added(c, ch, a, r, "test", uuid.uuid4()) for c, ch, a, r in rows]  # type: ignore[arg-type]
    await EventStore(engine).append(new)
    await ProjectionRunner(engine).catch_up()


async def test_both_routes_need_the_admin_scope(client: httpx.AsyncClient, make_key: KeyFactory) -> None:
    delete = f"/v1/suppressions/sms/{quote(PHONE)}?customer_id=c1"
    assert (await client.get("/v1/suppressions")).status_code == 401
    assert (await client.delete(delete)).status_code == 401
    reader = await make_key("journeys:read", "events:write")
    for response in (
        await client.get("/v1/suppressions", headers=reader),
        await client.delete(delete, headers=reader),
    ):
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"


async def test_the_list_masks_addresses_and_filters(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    await suppress(
        engine,
        ("c1", "sms", PHONE, "carrier_opt_out"),
        ("c1", "email", EMAIL, "hard_bounce"),
        ("c2", "sms", "+15035550199", "invalid_number"),
    )
    response = await client.get("/v1/suppressions", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(i["customer_id"], i["channel"], i["address"], i["reason"]) for i in body["items"]] == [
        ("c2", "sms", "********0199", "invalid_number"),
        ("c1", "email", "***********.com", "hard_bounce"),
        ("c1", "sms", "********0100", "carrier_opt_out"),
    ]
    assert PHONE not in response.text and EMAIL not in response.text
    assert body["next_cursor"] is None
    only = await client.get("/v1/suppressions", params={"customer_id": "c1", "channel": "sms"}, headers=admin)
    assert [i["address"] for i in only.json()["items"]] == ["********0100"]


async def test_the_list_pages_with_a_cursor_that_carries_no_address(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    await suppress(engine, *[(f"c{n}", "sms", f"+1503555{n:04d}", "invalid_number") for n in range(5)])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/suppressions", params=params, headers=admin)).json()
        seen += [item["customer_id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert "555" not in cursor
    assert (seen, pages) == (["c4", "c3", "c2", "c1", "c0"], 3)


async def test_bad_filters_and_cursors_are_422_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    bad_channel = await client.get("/v1/suppressions", params={"channel": "fax"}, headers=admin)
    assert bad_channel.status_code == 422 and "channel" in bad_channel.text
    for cursor in ("not-a-cursor", "eyJiZWZvcmUiOiJ4In0"):  # the second is {"before":"x"}
        response = await client.get("/v1/suppressions", params={"cursor": cursor}, headers=admin)
        assert response.status_code == 422, response.text
        assert response.json()["errors"] == [{"field": "cursor", "reason": "malformed"}]


async def test_delete_removes_the_address_then_it_is_gone(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    await suppress(engine, ("c1", "sms", PHONE, "carrier_opt_out"), ("c1", "push", ENDPOINT, "gone"))
    url = f"/v1/suppressions/sms/{quote(PHONE)}"
    first = await client.delete(url, params={"customer_id": "c1"}, headers=admin)
    assert first.status_code == 200, first.text
    assert (first.json()["address"], first.json()["channel"]) == ("********0100", "sms")
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        assert await suppressed_addresses(conn, "c1") == {("push", ENDPOINT): "gone"}
    gone = await client.delete(url, params={"customer_id": "c1"}, headers=admin)
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
    # A push endpoint holds slashes: URL-encoded, it is one path parameter.
    push = await client.delete(
        f"/v1/suppressions/push/{quote(ENDPOINT, safe='')}?customer_id=c1", headers=admin
    )
    assert push.status_code == 200, push.text


async def test_delete_of_an_unknown_suppression_is_404_without_the_address(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    await suppress(engine, ("c1", "sms", PHONE, "carrier_opt_out"))
    other_customer = await client.delete(f"/v1/suppressions/sms/{quote(PHONE)}?customer_id=c2", headers=admin)
    assert other_customer.status_code == 404
    detail = other_customer.json()["detail"]
    assert "0100" in detail and PHONE not in detail
    wrong_channel = await client.delete(
        f"/v1/suppressions/email/{quote(PHONE)}?customer_id=c1", headers=admin
    )
    assert wrong_channel.status_code == 404


async def test_delete_needs_a_customer_and_a_known_channel(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    missing = await client.delete(f"/v1/suppressions/sms/{quote(PHONE)}", headers=admin)
    assert missing.status_code == 422 and "customer_id" in missing.text
    fax = await client.delete(f"/v1/suppressions/fax/{quote(PHONE)}?customer_id=c1", headers=admin)
    assert fax.status_code == 422 and "channel" in fax.text


async def test_an_admin_lifts_a_suppression_kept_for_the_address_itself(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    """A STOP from a number no customer had is kept for the number, as a keyed hash: the admin names
    the number in full under the reserved customer, and it is lifted (it was 404: no row holds it)."""
    await EventStore(engine).append([new_event("customer.created", "c-new", {"phone": PHONE})])
    await suppress(engine, (ANYONE, "sms", address_hash("sms", PHONE), "stop_reply"))
    async with engine.connect() as conn:
        assert await suppressed_addresses(conn, "c-new") == {("sms", PHONE): "stop_reply"}
    url = f"/v1/suppressions/sms/{quote(PHONE)}"
    lifted = await client.delete(url, params={"customer_id": ANYONE}, headers=admin)
    assert lifted.status_code == 200, lifted.text
    await ProjectionRunner(engine).catch_up()
    async with engine.connect() as conn:
        assert await suppressed_addresses(conn, "c-new") == {}
    again = await client.delete(url, params={"customer_id": ANYONE}, headers=admin)
    assert again.status_code == 404
