"""`gridjourney journeys preview FILE` as a marketer runs it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gridjourney.cli.journeys import journeys_app
from gridjourney.config import get_settings
from tests.activities.conftest import add_customer
from tests.content.test_preview_journey import JOURNEY, templates

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(journeys_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_preview_prints_every_message_saves_the_html_and_prints_the_graph(tmp_path: Path) -> None:
    root = templates(tmp_path / "templates")
    journey = tmp_path / "winter_prep.yaml"
    journey.write_text(JOURNEY)
    out = tmp_path / "html"
    code, stdout, stderr = invoke(
        "preview", str(journey), "--templates", str(root), "--out", str(out), "--customer", '{"name": "Ana"}'
    )
    assert code == 0, stderr
    assert "== tips · sms · winter_tips · es\n   UCS-2, 1 segment(s)" in stdout
    assert "   Subject: Winter is coming" in stdout
    # customer_attributes.yaml declares heating with its values: the first one is the sample
    assert "| Hi Ana, your electric heat costs more in winter." in stdout
    saved = out / "tips.winter_tips.en.html"
    assert f"   HTML: {saved}" in stdout
    assert "Turn it down." in saved.read_text(encoding="utf-8")
    assert "flowchart TD" in stdout


def test_an_undeclared_customer_field_is_a_warning_with_the_nearest_name(tmp_path: Path) -> None:
    root = templates(tmp_path / "templates")
    journey = tmp_path / "winter_prep.yaml"
    journey.write_text(JOURNEY)
    code, stdout, stderr = invoke(
        "preview", str(journey), "--templates", str(root), "--customer", '{"heatng": "gas"}'
    )
    assert code == 0, stderr
    warning = "--customer: `heatng` is not a declared customer attribute: did you mean `heating`?"
    assert stderr == f"{journey}: warning: {warning}\n"
    assert "your electric heat" in stdout  # the typo changed nothing: the generated value shows

    code, _, stderr = invoke(
        "preview", str(journey), "--templates", str(root), "--customer", '{"heating": "gas"}'
    )
    assert code == 0 and stderr == ""


def test_bad_input_is_one_line_naming_the_file(tmp_path: Path) -> None:
    root = templates(tmp_path / "templates")
    journey = tmp_path / "winter_prep.yaml"
    journey.write_text(JOURNEY)
    code, stdout, _ = invoke("preview", str(journey), "--templates", str(root))
    assert code == 0 and "characters (save it with --out DIR)" in stdout

    code, _, stderr = invoke("preview", str(journey), "--templates", str(root), "--customer", "{name")
    assert code == 2
    assert stderr.startswith(f"{journey}: --customer is not JSON") and stderr.count("\n") == 1

    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\npurpose: informational\ntrigger: {event: bill.isued}\nsteps: []\n")
    code, stdout, stderr = invoke("preview", str(broken), "--templates", str(root))
    assert code == 1 and stdout == ""
    assert all(line.startswith(f"{broken}:") for line in stderr.splitlines())
    assert "Traceback" not in stderr

    code, _, stderr = invoke("preview", str(tmp_path / "missing.yaml"))
    assert (code, stderr) == (2, f"{tmp_path / 'missing.yaml'}: no such file\n")


async def test_a_customer_from_the_database(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GRIDJOURNEY_DATABASE_URL", database_url)
    get_settings.cache_clear()
    root = templates(tmp_path / "templates")
    journey = tmp_path / "winter_prep.yaml"
    journey.write_text(JOURNEY)
    await add_customer(engine, "c-7", name="Marisol", locale="es", attributes={"heating": "gas"})
    try:
        args = ["preview", str(journey), "--templates", str(root), "--customer-id", "c-7"]
        # the CLI runs its own event loop (asyncio.run), so it is called from a thread here
        found = await asyncio.to_thread(runner.invoke, journeys_app, args)
        missing = await asyncio.to_thread(runner.invoke, journeys_app, [*args[:-1], "c-404"])
    finally:
        get_settings.cache_clear()
    assert found.exit_code == 0, found.stderr
    assert "| Hi Marisol, your gas heat costs more in winter." in found.stdout
    assert (missing.exit_code, missing.stderr) == (2, f"{journey}: no customer 'c-404' in the database\n")
