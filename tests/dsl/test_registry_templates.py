"""Publishing pins the templates a version sends (content/pinned.py), against a real Postgres: the
exact sources are stored with the version, a template edit publishes a new version, a source shared by
versions is stored once, and a template named by an expression, or including one that does not exist,
is refused where the journey sends it (by `journeys validate` too)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gridjourney.cli.journeys import journeys_app
from gridjourney.db.tables import journey_version_templates, journey_versions, template_sources
from gridjourney.dsl import registry
from gridjourney.dsl.compiler import definition_hash
from gridjourney.dsl.loader import JourneyErrors, load_journey_with_positions

SOURCE = """\
id: pinned
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - {id: pause, wait: 1d}
  - id: alert
    send: {channels: [sms, email], template: alert}
"""
FILES = {
    "sms/en/alert.j2": "Hi {{ customer.name }}, your bill may reach {{ event.projected_amount }}.",
    "sms/es/alert.j2": "Hola {{ customer.name }}, su factura: {{ event.projected_amount }}.",
    "email/en/alert.j2": 'Subject: Your bill\n\nHi {{ customer.name }}.\n{% include "parts/footer.j2" %}',
    "email/en/alert.html.j2": '{% extends "parts/page.html.j2" %}{% block body %}Hi{% endblock %}',
    "email/layout.html.j2": "<html>{{ subject }}</html>",
    "parts/footer.j2": '{% from "parts/macros.j2" import sign %}{{ sign() }}',
    "parts/macros.j2": "{% macro sign() %}Your utility{% endmacro %}",
    "parts/page.html.j2": "<html>{% block body %}{% endblock %}</html>",
    "sms/en/unrelated.j2": "not sent by this journey",
}


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_a_version_pins_every_template_it_can_send(engine: AsyncEngine, templates: Path) -> None:
    published = await registry.publish(engine, SOURCE, "pinned.yaml", templates)
    pinned = await registry.pinned_templates(engine, "pinned", published.version)
    # every locale, the HTML part, the layout and what they include, extend and import; nothing else
    assert pinned == {path: text for path, text in FILES.items() if path != "sms/en/unrelated.j2"}
    pins = await registry.version_pins(engine, "pinned")
    assert [(pin.path, pin.sha256) for pin in pins[1]] == sorted(
        (path, hashlib.sha256(text.encode()).hexdigest()) for path, text in pinned.items()
    )
    # the hash covers the templates: not the definition's alone
    definition = load_journey_with_positions(SOURCE, "pinned.yaml").definition
    assert published.content_hash != definition_hash(definition)


async def test_a_template_edit_publishes_a_new_version_and_the_old_keeps_its_text(
    engine: AsyncEngine, templates: Path
) -> None:
    first = await registry.publish(engine, SOURCE, "pinned.yaml", templates)
    rows = (await count(engine, journey_versions), await count(engine, template_sources))
    again = await registry.publish(engine, SOURCE, "pinned.yaml", templates)
    assert (again.version, again.created) == (1, False)
    assert (await count(engine, journey_versions), await count(engine, template_sources)) == rows

    (templates / "parts/macros.j2").write_text("{% macro sign() %}Your co-op{% endmacro %}", encoding="utf-8")
    (templates / "sms/fr/alert.j2").parent.mkdir()
    (templates / "sms/fr/alert.j2").write_text("Bonjour {{ customer.name }}.", encoding="utf-8")
    second = await registry.publish(engine, SOURCE, "pinned.yaml", templates)
    assert (second.version, second.created) == (2, True)
    assert second.content_hash != first.content_hash
    assert (second.templates.changed, second.templates.added, second.templates.removed) == (
        ["parts/macros.j2"],
        ["sms/fr/alert.j2"],
        [],
    )
    assert (await registry.pinned_templates(engine, "pinned", 1))["parts/macros.j2"] == FILES[
        "parts/macros.j2"
    ]
    assert "Your co-op" in (await registry.pinned_templates(engine, "pinned", 2))["parts/macros.j2"]

    # the shared sources are stored once: 8 of version 1, then the two new texts
    assert await count(engine, template_sources) == 10
    assert await count(engine, journey_version_templates) == 8 + 9
    # a second journey sending the same templates stores no source again
    await registry.publish(engine, SOURCE.replace("id: pinned", "id: twin"), "twin.yaml", templates)
    assert await count(engine, template_sources) == 10


async def test_a_template_named_by_an_expression_is_refused_where_the_journey_sends_it(
    engine: AsyncEngine, templates: Path
) -> None:
    (templates / "parts/footer.j2").write_text(
        'Thanks.\n{% include "parts/" ~ customer.locale ~ ".j2" %}', encoding="utf-8"
    )
    with pytest.raises(JourneyErrors) as refused:
        await registry.publish(engine, SOURCE, "pinned.yaml", templates)
    [error] = refused.value.errors
    # the send step's `template:` in the journey, and the template's own line
    assert (error.line, error.column) == (7, 46)
    assert error.message == (
        "template parts/footer.j2:2: `{% include %}` names its template with an expression, which "
        "cannot be pinned to the published version"
    )
    assert await count(engine, journey_versions) == 0


async def test_without_a_templates_folder_nothing_is_pinned(engine: AsyncEngine) -> None:
    """As the suite's router tests publish: the version renders from the folder at send time."""
    published = await registry.publish(engine, SOURCE, "pinned.yaml", None)
    definition = load_journey_with_positions(SOURCE, "pinned.yaml").definition
    assert published.content_hash == definition_hash(definition)
    assert await registry.pinned_templates(engine, "pinned", 1) == {}
    assert await count(engine, template_sources) == 0


MISSING = (
    'template parts/footer.j2:2: `{% include %}` names "parts/gone.j2", which does not exist in the '
    "templates folder"
)


async def test_an_include_of_a_template_that_does_not_exist_is_refused_where_the_journey_sends_it(
    engine: AsyncEngine, templates: Path
) -> None:
    (templates / "parts/footer.j2").write_text('Thanks.\n{% include "parts/gone.j2" %}', encoding="utf-8")
    with pytest.raises(JourneyErrors) as refused:
        await registry.publish(engine, SOURCE, "pinned.yaml", templates)
    [error] = refused.value.errors
    assert (error.line, error.column, error.message) == (7, 46, MISSING)
    assert error.hint is not None and "ignore missing" in error.hint
    assert await count(engine, journey_versions) == 0

    # optional, it is published (and what is not there is not pinned)
    (templates / "parts/footer.j2").write_text(
        'Thanks.\n{% include "parts/gone.j2" ignore missing %}'
        '{% include ["parts/gone.j2", "parts/macros.j2"] %}',
        encoding="utf-8",
    )
    published = await registry.publish(engine, SOURCE, "pinned.yaml", templates)
    pinned = await registry.pinned_templates(engine, "pinned", published.version)
    assert "parts/macros.j2" in pinned and "parts/gone.j2" not in pinned


async def test_an_included_template_deleted_before_publishing_refuses_the_next_version(
    engine: AsyncEngine, templates: Path
) -> None:
    first = await registry.publish(engine, SOURCE, "pinned.yaml", templates)
    (templates / "parts/macros.j2").unlink()
    with pytest.raises(JourneyErrors) as refused:
        await registry.publish(engine, SOURCE, "pinned.yaml", templates)
    [error] = refused.value.errors
    assert error.message.startswith(
        'template parts/footer.j2:1: `{% from ... import %}` names "parts/macros.j2"'
    )
    assert [v.version for v in await registry.list_versions(engine, "pinned")] == [first.version]


def test_journeys_validate_refuses_an_include_that_does_not_exist(templates: Path, tmp_path: Path) -> None:
    journey = tmp_path / "pinned.yaml"
    journey.write_text(SOURCE, encoding="utf-8")
    (templates / "parts/footer.j2").write_text('Thanks.\n{% include "parts/gone.j2" %}', encoding="utf-8")
    result = CliRunner().invoke(journeys_app, ["validate", str(journey), "--templates", str(templates)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"{journey}:7:46: {MISSING} (hint: create it")

    (templates / "parts/gone.j2").write_text("Your utility", encoding="utf-8")
    result = CliRunner().invoke(journeys_app, ["validate", str(journey), "--templates", str(templates)])
    assert result.exit_code == 0, result.stderr


def test_journeys_validate_refuses_a_template_past_64_kib(templates: Path, tmp_path: Path) -> None:
    journey = tmp_path / "pinned.yaml"
    journey.write_text(SOURCE, encoding="utf-8")
    (templates / "parts/macros.j2").write_text("{# padding #}" * 6000, encoding="utf-8")  # an import's
    result = CliRunner().invoke(journeys_app, ["validate", str(journey), "--templates", str(templates)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(
        f"{journey}:7:46: template parts/macros.j2: 78,000 bytes, more than the 65,536 (64 KiB) a "
        "template may have (hint: shorten it"
    )
