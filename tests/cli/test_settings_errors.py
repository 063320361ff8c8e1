"""A bad setting is one line naming the variable and the reason, exit 2, for every command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMAND = "from gridjourney.cli import main; main()"


def _gridjourney(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", COMMAND, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("GRIDJOURNEY_COHORT_BATCH_SIZE", "0", "greater than or equal to 1"),
        ("GRIDJOURNEY_HOLIDAY_CALENDAR", "XX", "no holiday calendar 'XX'"),
        ("GRIDJOURNEY_VEN_POLL_INTERVAL", "10x", "not a duration; write seconds (60), a number and a unit"),
    ],
)
def test_a_bad_setting_is_one_line_without_a_traceback(variable: str, value: str, reason: str) -> None:
    result = _gridjourney({variable: value}, "policy", "validate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"gridjourney: setting {variable}='{value}': ")
    assert reason in line


def test_good_settings_run_the_command() -> None:
    durations = {"GRIDJOURNEY_VEN_POLL_INTERVAL": "60", "GRIDJOURNEY_OUTAGE_DEDUP_WINDOW": "30m"}
    result = _gridjourney({**durations, "GRIDJOURNEY_SEND_CLAIM_LEASE": "PT90S"}, "policy", "validate")
    assert result.returncode == 0, result.stderr


def test_a_mapping_setting_that_is_not_json_is_one_line() -> None:
    result = _gridjourney({"GRIDJOURNEY_WEATHER_STATIONS": "{bad"}, "policy", "validate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("gridjourney: setting GRIDJOURNEY_WEATHER_STATIONS: not valid JSON (")


def test_a_configured_database_without_encryption_keys_is_one_line(database_url: str) -> None:
    """The keys are checked where personal data would be sealed: in a command that reaches the
    store, not at start; the refusal is still one line (it was a traceback)."""
    env = {key: value for key, value in os.environ.items() if key != "GRIDJOURNEY_ENCRYPTION_KEYS"}
    result = subprocess.run(
        [sys.executable, "-c", COMMAND, "journeys", "schedules", "--sync"],
        env={**env, "GRIDJOURNEY_DATABASE_URL": database_url, "GRIDJOURNEY_TEMPORAL_ADDRESS": "127.0.0.1:1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("gridjourney: GRIDJOURNEY_ENCRYPTION_KEYS is not set: ")
