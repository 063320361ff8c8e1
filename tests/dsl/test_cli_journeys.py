"""`gridjourney journeys validate|schema|publish` as a marketer runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridjourney.cli.journeys import journeys_app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(journeys_app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_shipped_journeys() -> None:
    code, out, err = invoke("validate", str(ROOT / "journeys"), "--templates", str(ROOT / "templates"))
    assert code == 0, err
    assert sorted(line.split(":")[0].rsplit("/", 1)[-1] for line in out.splitlines()) == [
        "dr_event.yaml",
        "high_bill_alert.yaml",
        "onboarding.yaml",
        "outage_notice.yaml",
        "usage_spike.yaml",
    ]
    assert all(": OK (" in line for line in out.splitlines())


def test_validate_reports_positions_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\npurpose: safety\ntrigger: {event: outage.detect}\nsteps:\n  - {id: a, wiat: 1d}\n"
    )
    good = tmp_path / "good.yaml"
    good.write_text(
        "id: good\npurpose: safety\ntrigger: {event: outage.detected}\nsteps:\n  - {id: a, wait: 1d}\n"
    )
    code, out, err = invoke("validate", str(tmp_path), "--templates", str(tmp_path))
    assert code == 1
    assert err.splitlines() == [
        f"{bad}:5:13: unknown key `wiat` (hint: did you mean `wait`? allowed keys: "
        "branch, end, id, next, score, send, split, update, wait, wait_for)"
    ]
    assert out == f"{good}: OK (good, 1 steps, safety)\n"


def test_validate_warns_about_long_sms(tmp_path: Path) -> None:
    (tmp_path / "sms" / "en").mkdir(parents=True)
    (tmp_path / "sms" / "en" / "long.j2").write_text("Tarifa más baja. " * 30)
    journey = tmp_path / "j.yaml"
    journey.write_text(
        "id: j\npurpose: marketing\ntrigger: {event: customer.created}\n"
        "steps:\n  - {id: a, send: {channels: [sms], template: long}}\n"
    )
    code, out, err = invoke("validate", str(journey), "--templates", str(tmp_path))
    assert code == 0 and out == f"{journey}: OK (j, 1 steps, marketing)\n"
    assert "warning: sms/en/long.j2: 8 segments (UCS-2, 509 characters)" in err


def test_schema_is_json_schema() -> None:
    code, out, _ = invoke("schema")
    document = json.loads(out)
    assert code == 0 and document["title"] == "gridjourney journey"
    assert {"id", "purpose", "trigger", "steps"} <= set(document["properties"])


def test_publish_new_then_unchanged(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDJOURNEY_DATABASE_URL", database_url)
    args = ("publish", str(ROOT / "journeys" / "outage_notice.yaml"), "--templates", str(ROOT / "templates"))
    code, out, err = invoke(*args)
    assert code == 0, err
    assert out.startswith("outage_notice  version 1  ") and out.rstrip().endswith("new")
    code, out, _ = invoke(*args)
    assert code == 0 and out.rstrip().endswith("unchanged")
