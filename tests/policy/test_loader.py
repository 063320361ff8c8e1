"""policy.yaml → Policy: the shipped file loads; each bad input is refused at its file:line:column."""

from __future__ import annotations

import os
from datetime import time, timedelta
from pathlib import Path

import pytest

from gridjourney.config import Settings
from gridjourney.policy.loader import (
    PolicyError,
    PolicyErrors,
    load_policy,
    load_policy_text,
    policy_from_settings,
)
from gridjourney.policy.model import Policy
from tests.conftest import SHIPPED_POLICY

# Line numbers below refer to this text (line 1 is `version: 1`).
GOOD = """\
version: 1
default_time_zone: America/Chicago
program: {name: Test Alerts, contact: 1-800-555-0100, frequency: up to 8 msgs/month}
senders:
  sms: {from_number: "+15005550006"}
  email: {from_address: alerts@example.com, from_name: Test}
  push: {vapid_subject: "mailto:alerts@example.com"}
purposes:
  marketing:
    sending_hours: "08:00-21:00"
    caps:
      - {channel: sms, max: 1, per: 1d}
  informational:
    sending_hours: ["08:00-12:00", "13:00-21:00"]
  safety:
    consent: implied
    exempt_from: [quiet_hours, frequency_caps]
replies:
  help: {en: "HELP"}
  stop: {en: "STOP"}
  start: {en: "START"}
"""


def refused(text: str) -> list[PolicyError]:
    with pytest.raises(PolicyErrors) as caught:
        load_policy_text(text, "policy.yaml")
    return caught.value.errors


def only(text: str) -> PolicyError:
    errors = refused(text)
    assert len(errors) == 1, errors
    return errors[0]


def test_the_shipped_policy_loads(policy: Policy) -> None:
    assert policy.default_time_zone == "America/Chicago"
    marketing = policy.rules("marketing")
    assert [str(w) for w in marketing.sending_hours] == ["08:00-21:00"]
    assert [(c.channel, c.max, c.per) for c in marketing.caps][:2] == [
        ("sms", 1, timedelta(days=1)),
        ("sms", 3, timedelta(days=7)),
    ]
    assert policy.rules("safety").exempt_from == ["quiet_hours", "frequency_caps"]


def test_a_list_of_windows_is_read_in_order() -> None:
    policy = load_policy_text(GOOD, "policy.yaml")
    windows = policy.rules("informational").sending_hours
    assert [(w.start, w.end) for w in windows] == [(time(8), time(12)), (time(13), time(21))]


def test_overlapping_windows_are_refused_at_the_list() -> None:
    error = only(GOOD.replace('["08:00-12:00", "13:00-21:00"]', '["08:00-12:00", "11:00-21:00"]'))
    assert (error.line, error.column) == (14, 20)
    assert "08:00-12:00 and 11:00-21:00 overlap" in error.message
    assert str(error).startswith("policy.yaml:14:20: purposes.informational.sending_hours")


@pytest.mark.parametrize("window", ["13:00-13:00", "14:00-13:00"])
def test_an_empty_window_is_refused_at_the_window_itself(window: str) -> None:
    error = only(GOOD.replace('"13:00-21:00"', f'"{window}"'))
    assert (error.line, error.column) == (14, 36)
    assert "empty or runs backwards" in error.message


def test_a_window_that_is_not_hh_mm_is_refused() -> None:
    error = only(GOOD.replace('sending_hours: "08:00-21:00"', 'sending_hours: "8am-9pm"'))
    assert (error.line, error.column) == (10, 20)
    assert "not a window" in error.message


def test_an_unknown_purpose_is_refused_at_its_key() -> None:
    error = only(GOOD.replace("  safety:\n", "  promotions:\n    consent: opt_in\n  safety:\n"))
    assert (error.line, error.column) == (15, 3)
    assert "`promotions`" in error.message and "informational" in (error.hint or "")


def test_a_missing_purpose_is_refused_at_purposes() -> None:
    text = GOOD.replace('  informational:\n    sending_hours: ["08:00-12:00", "13:00-21:00"]\n', "")
    error = only(text)
    assert (error.line, error.column) == (9, 3)
    assert "lacks informational" in error.message


def test_a_cap_of_zero_is_refused_at_the_cap() -> None:
    error = only(GOOD.replace("max: 1,", "max: 0,"))
    assert (error.line, error.column) == (12, 29)
    assert "caps.0.max" in error.message and "greater than or equal to 1" in error.message


def test_a_cap_without_a_window_is_refused() -> None:
    error = only(GOOD.replace("per: 1d", "per: 0s"))
    assert (error.line, error.column) == (12, 37)
    assert "between 1s and 366d" in error.message


def test_a_cap_on_an_unknown_channel_is_one_error_naming_every_choice() -> None:
    error = only(GOOD.replace("{channel: sms,", "{channel: fax,"))
    assert (error.line, error.column) == (12, 19)
    assert "'push'" in (error.hint or "") and "'any'" in (error.hint or "")


@pytest.mark.parametrize(
    ("old", "new", "position", "field"),
    [
        ("America/Chicago", "America/Chicgo", (2, 20), "default_time_zone"),
        ('"+15005550006"', '"555-0006"', (5, 22), "senders.sms.from_number"),
        ("from_address: alerts@example.com", "from_address: alerts.example.com", (6, 25), "from_address"),
    ],
)
def test_bad_zones_phones_and_emails_are_refused(
    old: str, new: str, position: tuple[int, int], field: str
) -> None:
    error = only(GOOD.replace(old, new))
    assert (error.line, error.column) == position
    assert field in error.message


def test_an_unknown_key_is_refused_at_the_key() -> None:
    error = only(GOOD.replace("    consent: implied\n", "    consent: implied\n    quiet: true\n"))
    assert (error.line, error.column) == (17, 5)
    assert "unknown key `quiet`" in error.message


def test_a_missing_field_is_refused_at_its_mapping() -> None:
    error = only(GOOD.replace('  sms: {from_number: "+15005550006"}\n', ""))
    assert (error.line, error.column) == (5, 3)
    assert "`sms` is required" in error.message


def test_several_problems_are_all_reported_in_file_order() -> None:
    errors = refused(GOOD.replace("America/Chicago", "Mars/Olympus").replace("max: 1,", "max: 0,"))
    assert [(e.line, e.column) for e in errors] == [(2, 20), (12, 29)]


def test_anchors_and_aliases_are_refused_as_in_journeys() -> None:
    error = only(GOOD.replace("version: 1", "version: &v 1\nx: *v"))
    assert (error.line, error.column) == (1, 10) and "anchors" in error.message


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the file is empty"), ("- a\n", "must be a mapping"), ("a: [\n", "YAML syntax error")],
)
def test_what_is_not_a_policy_is_refused(text: str, message: str) -> None:
    error = only(text)
    assert message in error.message and "my_journey" not in str(error)


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PolicyErrors) as caught:
        load_policy(tmp_path / "absent.yaml")
    assert str(caught.value).startswith(f"{tmp_path / 'absent.yaml'}:1:1: cannot read the policy")


def test_policy_from_settings_reads_the_file_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    settings = Settings(policy_file=path)
    first = policy_from_settings(settings)
    assert policy_from_settings(settings) is first  # unchanged: not parsed again
    path.write_text(GOOD.replace("America/Chicago", "America/Denver"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert policy_from_settings(settings).default_time_zone == "America/Denver"


def test_policy_from_settings_defaults_to_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    # `monkeypatch.chdir` only: the default setting is a path relative to the working directory.
    monkeypatch.chdir(SHIPPED_POLICY.parent)
    assert policy_from_settings(Settings()).program.words("en")["program"] == "Cascade Power Alerts"
