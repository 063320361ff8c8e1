"""Settings refuse what the code behind them cannot use, at start-up, naming the variable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from gridjourney.config import DURATION_FORMS, Settings


def test_an_unknown_holiday_calendar_is_refused_at_start_up() -> None:
    assert Settings(holiday_calendar="GB-ENG").holiday_calendar == "GB-ENG"
    with pytest.raises(ValidationError, match="holiday_calendar") as refused:
        Settings(holiday_calendar="XX")
    assert "no holiday calendar 'XX'" in str(refused.value)


DURATION_SETTINGS = [
    "webhook_max_age",
    "send_claim_lease",
    "send_look_up_after",
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
