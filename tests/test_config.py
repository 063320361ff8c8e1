"""Settings refuse what the code behind them cannot use, at start-up, naming the variable."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from gridjourney.config import DURATION_FORMS, Settings, public_base_url


def test_an_unknown_holiday_calendar_is_refused_at_start_up() -> None:
    assert Settings(holiday_calendar="GB-ENG").holiday_calendar == "GB-ENG"
    with pytest.raises(ValidationError, match="holiday_calendar") as refused:
        Settings(holiday_calendar="XX")
    assert "no holiday calendar 'XX'" in str(refused.value)


DURATION_SETTINGS = [
    "webhook_max_age",
    "send_claim_lease",
    "send_look_up_after",
    "worker_shutdown_grace",
    "occurred_at_max_future",
    "occurred_at_max_past",
    "outage_dedup_window",
    "ven_poll_interval",
]


@pytest.mark.parametrize("setting", DURATION_SETTINGS)
@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("60", timedelta(seconds=60)),
        ("2.5", timedelta(seconds=2.5)),
        ("10s", timedelta(seconds=10)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("PT10S", timedelta(seconds=10)),
        ("P1DT2H", timedelta(days=1, hours=2)),
    ],
)
def test_a_duration_setting_takes_seconds_units_or_iso_8601(
    setting: str, written: str, meant: timedelta
) -> None:
    assert getattr(Settings.model_validate({setting: written}), setting) == meant


def test_every_duration_setting_reads_the_operators_forms() -> None:
    durations = {name for name, field in Settings.model_fields.items() if field.annotation is timedelta}
    assert durations == set(DURATION_SETTINGS)


@pytest.mark.parametrize("written", ["ten seconds", "10x", "", "-PT10S", "1e999", "99999999999999"])
def test_a_bad_duration_is_refused_naming_the_accepted_forms(written: str) -> None:
    with pytest.raises(ValidationError, match="ven_poll_interval") as refused:
        Settings.model_validate({"ven_poll_interval": written})
    assert f"write {DURATION_FORMS}" in str(refused.value)


@pytest.mark.parametrize("setting", ["ven_poll_interval", "send_claim_lease", "webhook_max_age"])
def test_a_zero_duration_is_refused_where_it_would_break_the_setting(setting: str) -> None:
    # a VEN polling without pause, claims lapsing at once (a second worker could send again), every
    # webhook a replay
    with pytest.raises(ValidationError, match=setting):
        Settings.model_validate({setting: "0"})
    assert getattr(Settings.model_validate({setting: "1s"}), setting) == timedelta(seconds=1)


@pytest.mark.parametrize("url", ["http://0.0.0.0:8000", "https://[::]/", "api:8000", "gridjourney.example"])
def test_a_public_url_providers_cannot_call_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="public_base_url") as refused:
        Settings(public_base_url=url)
    assert "as providers call it" in str(refused.value)


def test_a_wildcard_api_host_never_becomes_the_public_url(caplog: pytest.LogCaptureFixture) -> None:
    embedded = Settings(api_host="0.0.0.0", api_port=8123)
    assert public_base_url(embedded) == "http://127.0.0.1:8123"
    assert "GRIDJOURNEY_PUBLIC_BASE_URL is unset" not in caplog.text  # the embedded stack: loopback is right
    deployed = Settings(api_host="0.0.0.0", api_port=8124, database_url="postgresql+psycopg://db/gridjourney")
    with caplog.at_level(logging.WARNING, logger="gridjourney.config"):
        assert public_base_url(deployed) == "http://127.0.0.1:8124"
    assert "GRIDJOURNEY_PUBLIC_BASE_URL is unset" in caplog.text
    configured = Settings(api_host="0.0.0.0", public_base_url="https://gridjourney.example/")
    assert public_base_url(configured) == "https://gridjourney.example"


def test_an_empty_variable_is_an_unset_one(tmp_path: Path) -> None:
    # docker-compose.yml passes optional settings as `${GRIDJOURNEY_X:-}`: empty when the operator has none
    env_file = tmp_path / "compose.env"
    env_file.write_text(
        "GRIDJOURNEY_VAPID_PRIVATE_KEY=\nGRIDJOURNEY_TWILIO_BASE_URL=\nGRIDJOURNEY_API_PORT=\n"
    )
    settings = Settings(_env_file=env_file)
    assert settings.vapid_private_key is None and settings.twilio_base_url is None
    assert settings.api_port == 8000


def _configuration_rows() -> list[str]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[
        readme.index("## Configuration") : readme.index("\n## ", readme.index("## Configuration") + 1)
    ]
    return [line for line in section.splitlines() if line.startswith("| `GRIDJOURNEY_")]


def _named(row: str, settings: set[str]) -> set[str]:
    """The settings a row of the table names. A shorthand stands for the row's first name with its
    first words (`GRIDJOURNEY_SMS_RATE_PER_SECOND` / `_EMAIL_`) or its last words (`GRIDJOURNEY_API_HOST`
    / `_API_PORT`) replaced; one that names no setting that way is kept as written, and fails below."""
    cell = row.split("|")[1]
    full = re.findall(r"`GRIDJOURNEY_([A-Z0-9_]+)`", cell)
    named = set(full)
    for short in re.findall(r"`_([A-Z0-9_]+)`", cell):
        words = full[0].split("_")
        replaced = short.strip("_").split("_")
        if short.endswith("_"):
            candidates = ["_".join([*replaced, *words[k:]]) for k in range(len(words) + 1)]
        else:
            candidates = ["_".join([*words[:k], *replaced]) for k in range(len(words), -1, -1)]
        named.add(next((name for name in candidates if name in settings), short))
    return named


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    documented = set().union(*(_named(row, settings) for row in _configuration_rows()))
    assert settings <= documented, sorted(settings - documented)
    assert documented <= settings, sorted(documented - settings)
