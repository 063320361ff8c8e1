"""`journeys publish` pins the templates to the version (content/pinned.py): a template edit alone
publishes a new version and the output names the changed template; `journeys validate` refuses a
template named by an expression, which publishing could not pin, at the send's line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridjourney.cli.journeys import journeys_app
from gridjourney.config import get_settings

JOURNEY = """\
id: bill_watch
purpose: informational
trigger: {event: bill.projection_updated}
steps:
  - id: alert
    send: {channels: [sms], template: bill_watch}
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(journeys_app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def configured_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("GRIDJOURNEY_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """(the journey file, the templates folder)."""
    templates = tmp_path / "templates"
    (templates / "sms" / "en").mkdir(parents=True)
    (templates / "sms" / "en" / "bill_watch.j2").write_text(
        "Your bill is trending high. Reply STOP to opt out."
    )
    journey = tmp_path / "bill_watch.yaml"
    journey.write_text(JOURNEY)
    return journey, templates


@pytest.mark.usefixtures("configured_database")
def test_a_template_edit_publishes_a_new_version_and_says_which(files: tuple[Path, Path]) -> None:
    journey, templates = files
    args = ("publish", str(journey), "--templates", str(templates))
    code, out, err = invoke(*args)
    assert code == 0, err
    assert out.startswith("bill_watch  version 1  ") and out.rstrip().endswith("new")
    code, out, _ = invoke(*args)
    assert code == 0 and out.startswith("bill_watch  version 1  ") and out.rstrip().endswith("unchanged")

    (templates / "sms" / "en" / "bill_watch.j2").write_text(
        "Your bill is heading higher. Reply STOP to opt out."
    )
    code, out, err = invoke(*args)
    assert code == 0, err
    first, *changes = out.splitlines()
    assert first.startswith("bill_watch  version 2  ") and first.endswith("new")
    assert changes == ["  template changed: sms/en/bill_watch.j2"]


def test_validate_refuses_a_template_named_by_an_expression(files: tuple[Path, Path]) -> None:
    journey, templates = files
    (templates / "sms" / "en" / "bill_watch.j2").write_text('Hi.\n{% include "sms/" ~ customer.locale %}')
    code, out, err = invoke("validate", str(journey), "--templates", str(templates))
    assert code == 1 and out == ""
    assert err.startswith(
        f"{journey}:6:39: template sms/en/bill_watch.j2:2: `{{% include %}}` names its template with an "
        "expression, which cannot be pinned to the published version (hint: name the template literally"
    )
