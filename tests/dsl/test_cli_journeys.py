"""`gridjourney journeys validate|schema|publish` as a marketer runs them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import psycopg
import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from gridjourney.cli.journeys import journeys_app
from gridjourney.config import get_settings
from gridjourney.devstack import postgres_database_url
from gridjourney.dsl import registry

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
SHIPPED = sorted(path.stem for path in (ROOT / "journeys").glob("*.yaml"))


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
        "rate_coach.yaml",
        "usage_spike.yaml",
        "winter_prep.yaml",
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
        "branch, dr_performance, end, id, next, score, send, split, update, wait, wait_for)"
    ]
    assert out == f"{good}: OK (good, 1 step, safety)\n"


def test_validate_warns_about_long_sms(tmp_path: Path) -> None:
    (tmp_path / "sms" / "en").mkdir(parents=True)
    (tmp_path / "sms" / "en" / "long.j2").write_text("Tarifa más baja. " * 30)
    journey = tmp_path / "j.yaml"
    journey.write_text(
        "id: j\npurpose: marketing\ntrigger: {event: customer.created}\n"
        "steps:\n  - {id: a, send: {channels: [sms], template: long}}\n"
    )
    code, out, err = invoke("validate", str(journey), "--templates", str(tmp_path))
    assert code == 0 and out == f"{journey}: OK (j, 1 step, marketing)\n"
    assert "warning: sms/en/long.j2: 8 segments (UCS-2, 509 characters)" in err


def test_schema_is_json_schema() -> None:
    code, out, _ = invoke("schema")
    document = json.loads(out)
    assert code == 0 and document["title"] == "gridjourney journey"
    assert {"id", "purpose", "trigger", "steps"} <= set(document["properties"])


def schema_validator() -> jsonschema.Draft202012Validator:
    code, out, _ = invoke("schema")
    assert code == 0
    document = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_journeys_validate_against_the_printed_schema(name: str) -> None:
    data = yaml.safe_load((ROOT / "journeys" / f"{name}.yaml").read_text())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema_validator().iter_errors(data)]
    assert errors == []


def test_the_schema_knows_cohort_mode() -> None:
    document = json.loads(invoke("schema")[1])
    assert document["properties"]["mode"]["enum"] == ["per_customer", "cohort"]
    assert {"key", "audience", "updates", "on_update"} <= set(document["$defs"]["CohortSpec"]["properties"])
    step_refs = {ref["$ref"] for ref in document["properties"]["steps"]["items"]["oneOf"]}
    assert "#/$defs/DrPerformanceStep" in step_refs
    validator = schema_validator()
    dr_event = yaml.safe_load((ROOT / "journeys" / "dr_event.yaml").read_text())
    assert list(validator.iter_errors(dr_event)) == []
    for broken, path in [
        ({**dr_event, "cohort": {**dr_event["cohort"], "key": None}}, ["cohort", "key"]),
        ({**dr_event, "cohort": {**dr_event["cohort"], "size": 3}}, ["cohort"]),
        ({**dr_event, "mode": "batch"}, ["mode"]),
    ]:
        error = jsonschema.exceptions.best_match(validator.iter_errors(broken))
        assert error is not None and list(error.absolute_path) == path, error


def test_the_schema_allows_the_shorthands_files_use() -> None:
    validator = schema_validator()
    head = {"id": "j", "purpose": "informational", "trigger": {"event": "customer.created"}}
    shorthand = {**head, "steps": [{"id": "a", "wait": "3d"}, {"id": "b", "score": "dr_propensity"}]}
    assert list(validator.iter_errors(shorthand)) == []
    assert list(validator.iter_errors({**shorthand, "trigger": "customer.created"})) == []  # a type alone
    assert list(validator.iter_errors({**shorthand, "trigger": "customer.creatd"})) != []
    assert list(validator.iter_errors({**head, "steps": [{"id": "a", "wait": "3 days"}]})) != []


def test_validate_names_the_key_of_cohort_journeys() -> None:
    code, out, err = invoke(
        "validate", str(ROOT / "journeys" / "outage_notice.yaml"), "--templates", str(ROOT / "templates")
    )
    assert code == 0, err
    summary = "outage_notice, 6 steps, safety, cohort: one run per event.incident_id"
    assert out.rstrip().endswith(f": OK ({summary})")


def test_validate_refuses_per_customer_steps_in_cohort_mode(tmp_path: Path) -> None:
    source = (ROOT / "journeys" / "dr_event.yaml").read_text()
    lines = source.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip() == "- id: until_the_end")
    lines[at + 2] = '      until_local_time: "18:00"\n'
    journey = tmp_path / "dr_event.yaml"
    journey.write_text("".join(lines))
    code, out, err = invoke("validate", str(journey), "--templates", str(ROOT / "templates"))
    assert code == 1 and out == ""
    assert err.startswith(
        f"{journey}:{at + 3}:7: `until_local_time` waits for each member's own local time; a cohort waits "
        "once for all its members (hint: wait `until:` a time of the event"
    )


@pytest.fixture
def configured_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """GRIDJOURNEY_DATABASE_URL for the CLI; the settings cache is cleared so it reads it."""
    monkeypatch.setenv("GRIDJOURNEY_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


@pytest.mark.usefixtures("configured_database")
def test_publish_new_then_unchanged() -> None:
    args = ("publish", str(ROOT / "journeys" / "outage_notice.yaml"), "--templates", str(ROOT / "templates"))
    code, out, err = invoke(*args)
    assert code == 0, err
    assert out.startswith("outage_notice  version 1  ") and out.rstrip().endswith("new")
    code, out, _ = invoke(*args)
    assert code == 0 and out.rstrip().endswith("unchanged")


@pytest.mark.usefixtures("configured_database")
async def test_publishing_the_journeys_folder_twice_publishes_nothing_new(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Temporal down (nothing listens on port 1): the journeys are still stored, and the scheduled one
    # (winter_prep) gets a warning, not a failure: a deployment may publish before Temporal is up.
    monkeypatch.setenv("GRIDJOURNEY_TEMPORAL_ADDRESS", "127.0.0.1:1")
    get_settings.cache_clear()
    args = ("publish", str(ROOT / "journeys"), "--templates", str(ROOT / "templates"))
    # The CLI runs its own event loop (asyncio.run), so it is called from a thread here.
    first = await asyncio.to_thread(runner.invoke, journeys_app, list(args))
    assert first.exit_code == 0, first.stderr
    assert "their schedules are set when a worker starts" in first.stderr
    published = await registry.list_journeys(engine)
    second = await asyncio.to_thread(runner.invoke, journeys_app, list(args))
    assert second.exit_code == 0, second.stderr
    assert [line.split()[-1] for line in first.stdout.splitlines()] == ["new"] * len(SHIPPED)
    assert [line.split()[-1] for line in second.stdout.splitlines()] == ["unchanged"] * len(SHIPPED)
    assert await registry.list_journeys(engine) == published
    assert sorted((j.journey_id, j.version) for j in published) == [(name, 1) for name in SHIPPED]


def test_publish_refuses_a_database_not_migrated(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE publish_unmigrated")
    monkeypatch.setenv("GRIDJOURNEY_DATABASE_URL", postgres_database_url(postgres_url, "publish_unmigrated"))
    get_settings.cache_clear()
    try:
        code, out, err = invoke("publish", str(ROOT / "journeys"), "--templates", str(ROOT / "templates"))
    finally:
        get_settings.cache_clear()
    assert (code, out) == (2, "")
    assert "run `gridjourney db upgrade` first" in err
