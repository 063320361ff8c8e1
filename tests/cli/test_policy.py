"""`gridjourney policy validate|schema` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from gridjourney.cli import app
from tests.conftest import SHIPPED_POLICY

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["policy", *args])
    return result.exit_code, result.stdout, result.stderr


def schema() -> dict[str, Any]:
    code, out, err = invoke("schema")
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def test_validate_the_shipped_policy() -> None:
    code, out, err = invoke("validate", str(SHIPPED_POLICY))
    assert code == 0, err
    assert out.startswith(f"{SHIPPED_POLICY}: OK (default zone America/Chicago; ")
    assert "marketing: opt_in, 08:00-21:00, 3 caps" in out
    assert "safety: implied, any hour, never capped" in out


def test_validate_prints_every_error_at_its_position(tmp_path: Path) -> None:
    text = SHIPPED_POLICY.read_text().replace(
        "{channel: sms, max: 1, per: 1d}", "{channel: sms, max: 0, per: 1d}"
    )
    text = text.replace('sending_hours: "08:00-21:00"     #', 'sending_hours: "21:00-08:00"     #')
    bad = tmp_path / "policy.yaml"
    bad.write_text(text)
    code, out, err = invoke("validate", str(bad))
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"{bad}:23:20: purposes.marketing.sending_hours: '21:00-08:00' is empty or runs backwards"
    )
    assert lines[1].startswith(f"{bad}:25:29: purposes.marketing.caps.0.max:")


def test_validate_defaults_to_policy_yaml_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `monkeypatch.chdir` only: the default file is relative to where the command runs.
    (tmp_path / "policy.yaml").write_text(
        SHIPPED_POLICY.read_text().replace("America/Chicago", "America/Denver")
    )
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke("validate")
    assert code == 0, err
    assert out.startswith("policy.yaml: OK (default zone America/Denver;")


def test_the_schema_is_valid_and_describes_its_fields() -> None:
    document = schema()
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["title"] == "gridjourney compliance policy"
    rules = document["$defs"]["PurposeRules"]["properties"]
    assert "quiet hours" in rules["sending_hours"]["description"]
    assert document["properties"]["purposes"]["required"] == ["marketing", "informational", "safety"]


def test_the_shipped_policy_validates_against_the_schema() -> None:
    jsonschema.validate(yaml.safe_load(SHIPPED_POLICY.read_text()), schema())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("purposes", "marketing", "caps", 0, "max"), 0),
        (("purposes", "marketing", "sending_hours"), "8-21"),
        (("purposes", "marketing", "consent"), "assumed"),
        (("purposes", "promotions"), {"consent": "opt_in"}),
        (("default_time_zone",), ""),
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(path: tuple[str | int, ...], value: object) -> None:
    data = yaml.safe_load(SHIPPED_POLICY.read_text())
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema())
