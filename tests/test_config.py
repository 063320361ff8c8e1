"""Settings refuse what the code behind them cannot use, at start-up, naming the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gridjourney.config import Settings


def test_an_unknown_holiday_calendar_is_refused_at_start_up() -> None:
    assert Settings(holiday_calendar="GB-ENG").holiday_calendar == "GB-ENG"
    with pytest.raises(ValidationError, match="holiday_calendar") as refused:
        Settings(holiday_calendar="XX")
    assert "no holiday calendar 'XX'" in str(refused.value)
