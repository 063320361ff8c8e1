"""`gridjourney journeys backtest FILE --from --to [--json]` as a marketer runs it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gridjourney.cli.journeys import journeys_app
from gridjourney.config import get_settings
from tests.backtest.builders import JOURNEY, append, at, customer, projection, write_templates

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def configured(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("GRIDJOURNEY_DATABASE_URL", database_url)
    monkeypatch.setenv("GRIDJOURNEY_POLICY_FILE", str(ROOT / "policy.yaml"))
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


@pytest.fixture
def journey_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    templates = write_templates(tmp_path / "templates")
    monkeypatch.setenv("GRIDJOURNEY_TEMPLATES_DIR", str(templates))
    get_settings.cache_clear()
    path = tmp_path / "bill_nudge.yaml"
    path.write_text(JOURNEY)
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(journeys_app, ["backtest", *args])
    return result.exit_code, result.stdout, result.stderr


async def invoke_in_thread(*args: str) -> tuple[int, str, str]:
    """The CLI runs its own event loop (asyncio.run), so an async test calls it from a thread."""
    return await asyncio.to_thread(invoke, *args)


async def test_text_and_json_reports(engine: AsyncEngine, configured: str, journey_file: Path) -> None:
    await append(
        engine,
        [
            *customer("c-1", at("2025-12-01T10:00:00"), phone="+15035550101"),
            projection("c-1", at("2026-01-05T12:00:00")),
        ],
    )
    code, stdout, stderr = await invoke_in_thread(
        str(journey_file), "--from", "2026-01-01", "--to", "2026-01-31"
    )
    assert code == 0, stderr
    assert stdout.startswith("bill_nudge: 2026-01-01 00:00 to 2026-02-01 00:00 UTC, 1 events\n")
    assert "  [send] alert: reached 1\n      1 x sms nudge (en)\n      e.g. c-1" in stdout

    code, stdout, stderr = await invoke_in_thread(
        str(journey_file), "--from", "2026-01-01", "--to", "2026-01-31", "--json"
    )
    assert code == 0, stderr
    report = json.loads(stdout)
    assert (report["entered"], report["messages_by_channel"]) == (1, {"sms": 1})
    assert report["steps"][0]["messages"] == [
        {"channel": "sms", "template": "nudge", "locale": "en", "count": 1}
    ]


def test_a_period_without_events_says_so_and_exits_0(configured: str, journey_file: Path) -> None:
    code, stdout, _ = invoke(str(journey_file), "--from", "2026-03-01", "--to", "2026-03-31")
    assert (code, stdout) == (
        0,
        f"{journey_file}: no events in the log from 2026-03-01 to 2026-03-31: nothing to replay\n",
    )


def test_bad_dates_and_bad_journeys_are_one_line_naming_the_file(tmp_path: Path, journey_file: Path) -> None:
    code, _, stderr = invoke(str(journey_file), "--from", "2026-13-01", "--to", "2026-01-31")
    assert code == 2
    assert stderr == f"{journey_file}: --from: '2026-13-01' is not a day (YYYY-MM-DD) or an ISO 8601 time\n"
    code, _, stderr = invoke(str(journey_file), "--from", "2026-02-01", "--to", "2026-01-31")
    assert code == 2 and stderr.startswith(f"{journey_file}: --to: the period ends")
    broken = tmp_path / "broken.yaml"
    broken.write_text(JOURNEY.replace("bill.projection_updated", "bill.projection_update"))
    code, _, stderr = invoke(str(broken), "--from", "2026-01-01", "--to", "2026-01-31")
    assert code == 1 and stderr.startswith(f"{broken}:") and "bill.projection_updated" in stderr
