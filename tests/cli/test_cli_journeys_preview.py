"""`gridjourney journeys preview FILE` as a marketer runs it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gridjourney.cli.journeys import journeys_app
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


def test_bad_input_is_one_line_naming_the_file(tmp_path: Path) -> None:
    root = templates(tmp_path / "templates")
    journey = tmp_path / "winter_prep.yaml"
    journey.write_text(JOURNEY)
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
