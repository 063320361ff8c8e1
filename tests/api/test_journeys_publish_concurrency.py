"""POST /v1/journeys checks and pins the journey's templates off the event loop: the API keeps
answering while a big template is parsed, on a first publish and on a re-publish that stores nothing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.config import Settings
from gridjourney.content.pinning import pin_templates
from gridjourney.dsl import registry
from gridjourney.dsl.loader import LoadedJourney
from tests.api.conftest import KeyFactory

YAML = {"Content-Type": "application/yaml"}
JOURNEY = """\
id: bill_watch
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - id: alert
    send: {channels: [sms], template: bill_watch}
"""
# Only a safety net for the test itself (pinning on the loop never lets /healthz in): no figure is asserted.
HELD_AT_MOST_S = 30


@pytest.fixture
def big_template(settings: Settings) -> str:
    """An SMS template of some 50 KB (many short conditional lines), as a slow parse would have."""
    text = "".join(f"{{% if event.days_left > {n} %}}Day {n}.{{% endif %}}\n" for n in range(1000))
    text += "Reply STOP to opt out.\n"
    path = settings.templates_dir / "sms" / "en" / "bill_watch.j2"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return text


async def test_healthz_answers_while_a_publish_pins_a_big_template(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    make_key: KeyFactory,
    big_template: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pinning = threading.Event()
    finishes: list[threading.Event] = []
    released_by_the_test: list[bool] = []

    def held_pin(loaded: LoadedJourney, templates_dir: Path | None) -> dict[str, str]:
        # Pinning, held open until the test has had its /healthz answer. On the event loop it would
        # wait in vain: the test could not run to release it.
        finish = finishes[-1]
        pinning.set()
        released_by_the_test.append(finish.wait(HELD_AT_MOST_S))
        return pin_templates(loaded, templates_dir)

    monkeypatch.setattr(registry, "pin_templates", held_pin)
    headers = await make_key("journeys:write") | YAML
    versions = []
    for expected in (201, 200):  # the first publish, then the same file again (nothing stored)
        pinning.clear()
        finishes.append(threading.Event())
        publish = asyncio.create_task(client.post("/v1/journeys", content=JOURNEY, headers=headers))
        assert await asyncio.to_thread(pinning.wait, HELD_AT_MOST_S), "the publish never reached pinning"
        health = await client.get("/healthz")
        # Answered (503: this client's Temporal is down, as in test_health) while pinning still waits.
        publish_pending = not publish.done()
        finishes[-1].set()
        response = await publish
        assert health.status_code == 503 and health.json()["database"]["status"] == "ok"
        assert publish_pending and response.status_code == expected, response.text
        versions.append(response.json()["version"])
    assert released_by_the_test == [True, True] and versions == [1, 1]
    pinned = await registry.pinned_templates(engine, "bill_watch", 1)
    assert pinned == {"sms/en/bill_watch.j2": big_template}
