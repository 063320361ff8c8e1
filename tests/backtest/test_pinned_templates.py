"""A backtest of a published version judges its messages against the templates that version pinned
(dsl/registry.py `version_templates`), as its sends render from them, not against the folder as it
is now; a draft (version 0) reads the folder."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.backtest.run import backtest
from gridjourney.dsl import registry
from gridjourney.policy.model import Policy
from tests.backtest.builders import JOURNEY, append, at, customer, projection, write_templates

PERIOD = (at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00"))


async def test_a_published_version_is_judged_against_its_pinned_templates(
    engine: AsyncEngine, policy: Policy, tmp_path: Path
) -> None:
    templates = write_templates(tmp_path / "templates")
    spanish = templates / "sms" / "es" / "nudge.j2"
    spanish.parent.mkdir(parents=True)
    spanish.write_text("Su factura va hacia ${{ event.projected_amount }}.", encoding="utf-8")
    published = await registry.publish(engine, JOURNEY, "bill_nudge.yaml", templates)
    journey = await registry.get(engine, published.journey_id, published.version)
    assert journey is not None and journey.version == published.version > 0
    spanish.unlink()  # the folder no longer has the Spanish text the version pinned

    await append(
        engine,
        [
            *customer("c-es", at("2025-12-01T10:00:00"), phone="+15035550101", locale="es"),
            projection("c-es", at("2026-01-05T12:00:00")),
        ],
    )
    report = await backtest(engine, journey, policy, *PERIOD, templates_dir=templates)
    assert report.steps["alert"].messages == {("sms", "nudge", "es"): 1}  # as the version sends it

    draft = journey.model_copy(update={"version": 0})
    report = await backtest(engine, draft, policy, *PERIOD, templates_dir=templates)
    assert report.steps["alert"].messages == {("sms", "nudge", "en"): 1}  # the folder's fallback
