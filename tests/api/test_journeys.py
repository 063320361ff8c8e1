"""Journeys: publish YAML (errors with line and column, nothing stored), versions, listing, and a
manual start under the same re-entry record as the router's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from gridjourney.api.app import create_app
from gridjourney.api.deps import TemporalClientProvider
from gridjourney.config import Settings
from gridjourney.events.store import EventStore
from gridjourney.projections.runner import ProjectionRunner
from gridjourney.router.router import EventRouter
from tests.api.conftest import KeyFactory
from tests.api.test_events import bill_event
from tests.entry.retention import forget_run

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


ONCE = """\
id: welcome_once
purpose: informational
trigger: {event: customer.updated}
entry: {reentry: once}
steps:
  - id: pause
    wait: 1h
"""
ONCE_INSTANCE = "journey:welcome_once:C-1"
ONCE_START = "/v1/journeys/welcome_once/instances"


@pytest.fixture
async def entering(
    settings: Settings, engine: AsyncEngine, temporal_dev_env: WorkflowEnvironment
) -> AsyncIterator[tuple[httpx.AsyncClient, EventRouter]]:
    """The API and the router on one Temporal server, with a task queue no worker serves: the
    instances only have to exist."""
    settings.task_queue = settings.send_task_queue = f"entry-{uuid.uuid4().hex[:8]}"

    async def provider() -> Client:
        return temporal_dev_env.client

    app = create_app(settings, engine, provider)
    router = EventRouter(
        engine,
        temporal_dev_env.client,
        task_queue=settings.task_queue,
        send_task_queue=settings.task_queue,
        wait_for_projections=False,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        yield http, router


async def _post_and_route(
    http: httpx.AsyncClient, engine: AsyncEngine, router: EventRouter, headers: dict[str, str], kind: str
) -> None:
    store = EventStore(engine)
    before = await store.head()
    event = bill_event(type=kind, payload={"name": "Ana"} if kind == "customer.created" else {})
    event["occurred_at"] = datetime.now(UTC).isoformat()
    assert (await http.post("/v1/events", json=event, headers=headers)).status_code == 201
    await ProjectionRunner(engine).catch_up()
    await router.handle(await store.read_after(before))


async def test_a_manual_start_obeys_the_routers_record(
    entering: tuple[httpx.AsyncClient, EventRouter],
    engine: AsyncEngine,
    temporal_dev_env: WorkflowEnvironment,
    admin: dict[str, str],
) -> None:
    http, router = entering
    assert (await http.post("/v1/journeys", content=ONCE, headers=admin | YAML)).status_code == 201
    await _post_and_route(http, engine, router, admin, "customer.created")
    await _post_and_route(http, engine, router, admin, "customer.updated")
    assert router.started == 1
    # Long after: Temporal's retention has removed the run; the record still says "entered once".
    await forget_run(temporal_dev_env.client, ONCE_INSTANCE)
    manual = await http.post(
        "/v1/journeys/welcome_once/instances", json={"customer_id": "C-1"}, headers=admin
    )
    assert manual.status_code == 200, manual.text
    assert (manual.json()["instance_id"], manual.json()["started"]) == (ONCE_INSTANCE, False)


async def test_the_router_obeys_a_manual_start(
    entering: tuple[httpx.AsyncClient, EventRouter],
    engine: AsyncEngine,
    temporal_dev_env: WorkflowEnvironment,
    admin: dict[str, str],
) -> None:
    http, router = entering
    assert (await http.post("/v1/journeys", content=ONCE, headers=admin | YAML)).status_code == 201
    await _post_and_route(http, engine, router, admin, "customer.created")
    manual = await http.post(
        "/v1/journeys/welcome_once/instances", json={"customer_id": "C-1"}, headers=admin
    )
    assert manual.status_code == 201 and manual.json()["started"] is True
    await forget_run(temporal_dev_env.client, ONCE_INSTANCE)
    await _post_and_route(http, engine, router, admin, "customer.updated")
    assert router.started == 0


async def test_an_erased_customer_cannot_be_started_by_hand(
    entering: tuple[httpx.AsyncClient, EventRouter], engine: AsyncEngine, admin: dict[str, str]
) -> None:
    http, _ = entering
    assert (await http.post("/v1/journeys", content=ONCE, headers=admin | YAML)).status_code == 201
    created = bill_event(type="customer.created", payload={"name": "Ana"})
    created["occurred_at"] = datetime.now(UTC).isoformat()
    assert (await http.post("/v1/events", json=created, headers=admin)).status_code == 201
    await ProjectionRunner(engine).catch_up()
    assert (await http.delete("/v1/customers/C-1", headers=admin)).status_code == 200

    manual = await http.post(ONCE_START, json={"customer_id": "C-1"}, headers=admin)

    assert manual.status_code == 410, manual.text
    assert manual.json()["erased"] is True


# --- purpose governance: `safety` goes out without consent, so it is for safety content, by admins
SAFETY = """\
id: outage_watch
purpose: safety
trigger:
  event: outage.detected
steps:
  - id: notice
    send: {channels: [sms], template: outage_watch}
"""
SAFETY_TIPS = """\
id: sneaky_tips
purpose: safety
trigger:
  event: bill.projection_updated
entry: {reentry: every_trigger}
steps:
  - id: tips
    send: {channels: [sms], template: saving_tips}
"""


@pytest.fixture
def safety_templates(templates: Path) -> Path:
    (templates / "sms" / "en" / "outage_watch.j2").write_text(
        "Purpose: safety\nPower is out at your address.\n"
    )
    (templates / "sms" / "en" / "saving_tips.j2").write_text(
        "Save with our new plan! Reply STOP to opt out.\n"
    )
    return templates


@pytest.mark.usefixtures("safety_templates")
async def test_a_journeys_write_key_cannot_publish_safety(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: KeyFactory
) -> None:
    writer = await make_key("journeys:write")
    for source in (SAFETY, SAFETY_TIPS):
        response = await client.post("/v1/journeys", content=source, headers=writer | YAML)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["title"] == "Publishing a safety journey needs the admin scope"
        assert "sent without the customer's consent" in problem["detail"]
        assert problem["errors"][0]["field"] == "purpose"
    assert (await client.get("/v1/journeys", headers=admin)).json()["items"] == []
    # Other purposes stay open to the write scope.
    assert (await client.post("/v1/journeys", content=JOURNEY, headers=writer | YAML)).status_code == 201


@pytest.mark.usefixtures("safety_templates")
async def test_a_journeys_write_key_cannot_turn_a_safety_journey_into_another_purpose(
    client: httpx.AsyncClient, admin: dict[str, str], make_key: KeyFactory
) -> None:
    # A new version of another purpose would let the write scope retire it, or stop its notices.
    assert (await client.post("/v1/journeys", content=SAFETY, headers=admin | YAML)).status_code == 201
    demoted = SAFETY.replace("purpose: safety", "purpose: informational")
    writer = await make_key("journeys:write")
    refused = await client.post("/v1/journeys", content=demoted, headers=writer | YAML)
    assert refused.status_code == 403, refused.text
    assert refused.json()["title"] == "Changing a safety journey needs the admin scope"
    assert "outage_watch has `purpose: safety`" in refused.json()["detail"]
    versions = (await client.get("/v1/journeys/outage_watch", headers=admin)).json()["versions"]
    assert [version["version"] for version in versions] == [1]  # nothing stored
    assert (await client.post("/v1/journeys", content=demoted, headers=admin | YAML)).status_code == 201
    # Its older version was safety: retiring it still needs admin.
    retire = await client.post("/v1/journeys/outage_watch/retire", headers=writer)
    assert retire.status_code == 403, retire.text
    assert (await client.post("/v1/journeys/outage_watch/retire", headers=admin)).status_code == 200


@pytest.mark.usefixtures("safety_templates")
async def test_even_an_admin_cannot_send_marketing_content_as_safety(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/journeys?filename=sneaky.yaml", content=SAFETY_TIPS, headers=admin | YAML
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [(4, 10), (8, 39)]
    assert "`bill.projection_updated` is not a safety event type" in errors[0]["reason"]
    assert "template sms/en/saving_tips.j2 is not marked safety" in errors[1]["reason"]
    assert all("marketing content can never go out as safety" in e["hint"] for e in errors)
    assert (await client.get("/v1/journeys", headers=admin)).json()["items"] == []
    published = await client.post("/v1/journeys", content=SAFETY, headers=admin | YAML)
    assert published.status_code == 201, published.text
    assert published.json()["journey_id"] == "outage_watch"


async def test_safety_event_types_are_configurable(
    safety_templates: Path,
    engine: AsyncEngine,
    temporal_provider: TemporalClientProvider,
    admin: dict[str, str],
) -> None:
    (safety_templates / "sms" / "en" / "dr_notice.j2").write_text(
        "Purpose: safety\nGrid emergency: reduce use.\n"
    )
    source = SAFETY.replace("outage_watch", "dr_notice").replace("outage.detected", "dr.event_scheduled")
    for patterns, expected in ((["outage.*"], 422), (["outage.*", "dr.event_*"], 201)):
        settings = Settings(templates_dir=safety_templates, safety_event_types=patterns)
        app = create_app(settings, engine, temporal_provider)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test"
        ) as http:
            response = await http.post("/v1/journeys", content=source, headers=admin | YAML)
        assert response.status_code == expected, response.text


@pytest.mark.usefixtures("safety_templates")
async def test_starting_a_safety_journey_by_hand_needs_the_admin_scope(
    entering: tuple[httpx.AsyncClient, EventRouter],
    engine: AsyncEngine,
    admin: dict[str, str],
    make_key: KeyFactory,
) -> None:
    http, router = entering
    assert (await http.post("/v1/journeys", content=SAFETY, headers=admin | YAML)).status_code == 201
    await _post_and_route(http, engine, router, admin, "customer.created")
    writer = await make_key("journeys:write")
    start = {"customer_id": "C-1", "payload": {"incident_id": "INC-1", "premise_ids": ["P-1"]}}
    refused = await http.post("/v1/journeys/outage_watch/instances", json=start, headers=writer)
    assert refused.status_code == 403, refused.text
    assert refused.json()["title"] == "Starting a safety journey needs the admin scope"
    started = await http.post("/v1/journeys/outage_watch/instances", json=start, headers=admin)
    assert started.status_code == 201, started.text
