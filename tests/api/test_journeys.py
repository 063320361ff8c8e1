"""Journeys: publish YAML (errors with line and column, nothing stored), versions, listing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gridjourney.config import Settings
from tests.api.conftest import KeyFactory

YAML = {"Content-Type": "application/yaml"}

JOURNEY = """\
id: bill_watch
name: Bill watch
purpose: informational
trigger:
  event: bill.projection_updated
  when: "event.projected_amount > 1.3 * event.typical_amount"
steps:
  - id: alert
    send: {channels: [sms], template: bill_watch}
"""


@pytest.fixture(autouse=True)
def templates(settings: Settings) -> Path:
    template = settings.templates_dir / "sms" / "en" / "bill_watch.j2"
    template.parent.mkdir(parents=True)
    template.write_text("Your bill is trending high this month. Reply STOP to opt out.\n")
    return settings.templates_dir


async def test_publish_read_and_republish(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    headers = admin | YAML
    first = await client.post("/v1/journeys", content=JOURNEY, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["journey_id"] == "bill_watch" and first.json()["version"] == 1
    again = await client.post("/v1/journeys", content=JOURNEY, headers=headers)
    assert again.status_code == 200 and again.json()["version"] == 1 and again.json()["created"] is False
    changed = JOURNEY.replace("name: Bill watch", "name: Bill watch (v2)")
    second = await client.post("/v1/journeys", content=changed, headers=admin | {"Content-Type": "text/yaml"})
    assert second.status_code == 201 and second.json()["version"] == 2

    detail = (await client.get("/v1/journeys/bill_watch", headers=admin)).json()
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert detail["latest"]["name"] == "Bill watch (v2)" and detail["source_yaml"] == changed
    assert detail["definition"]["steps"][0]["id"] == "alert"
    listing = (await client.get("/v1/journeys", headers=admin)).json()
    assert [(j["journey_id"], j["version"]) for j in listing["items"]] == [("bill_watch", 2)]


async def test_broken_yaml_is_422_with_line_and_column_and_nothing_stored(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    broken = JOURNEY.replace("send: {channels: [sms], template: bill_watch}", "sned: {channels: [sms]}")
    response = await client.post(
        "/v1/journeys?filename=bill_watch.yaml", content=broken, headers=admin | YAML
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert "bill_watch.yaml" in problem["detail"]
    error = problem["errors"][0]
    assert error["line"] == 9 and error["column"] >= 5 and error["reason"]
    unparsable = await client.post("/v1/journeys", content="id: [unclosed\n", headers=admin | YAML)
    assert unparsable.status_code == 422 and unparsable.json()["errors"][0]["line"] >= 1
    assert (await client.get("/v1/journeys", headers=admin)).json()["items"] == []
    assert (await client.get("/v1/journeys/bill_watch", headers=admin)).status_code == 404


async def test_unknown_template_names_its_position(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.post(
        "/v1/journeys",
        content=JOURNEY.replace("template: bill_watch", "template: nope"),
        headers=admin | YAML,
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["line"] == 9 and "nope" in error["reason"] and error["hint"]


async def test_upload_needs_yaml_and_the_write_scope(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: KeyFactory
) -> None:
    as_json = await client.post("/v1/journeys", json={"id": "x"}, headers=admin)
    assert as_json.status_code == 415
    reader = await make_key("journeys:read")
    assert (await client.post("/v1/journeys", content=JOURNEY, headers=reader | YAML)).status_code == 403


async def test_listing_pages(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for name in ("a_watch", "b_watch", "c_watch"):
        source = JOURNEY.replace("id: bill_watch", f"id: {name}")
        assert (await client.post("/v1/journeys", content=source, headers=admin | YAML)).status_code == 201
    first = (await client.get("/v1/journeys", params={"limit": 2}, headers=admin)).json()
    assert [j["journey_id"] for j in first["items"]] == ["a_watch", "b_watch"]
    rest = (await client.get("/v1/journeys", params={"cursor": first["next_cursor"]}, headers=admin)).json()
    assert [j["journey_id"] for j in rest["items"]] == ["c_watch"] and rest["next_cursor"] is None


async def test_instances_of_unknown_journey_is_404(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    listing = await client.get("/v1/journeys/nope/instances", headers=admin)
    assert listing.status_code == 200 and listing.json()["items"] == []
