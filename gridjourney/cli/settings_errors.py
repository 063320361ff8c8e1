"""Bad settings as one line per variable, not pydantic's traceback: every command loads the settings
through `get_settings`, so the one place to answer them is around the whole command line."""

from __future__ import annotations

import re

from pydantic import ValidationError
from pydantic_settings import SettingsError

from gridjourney.config import Settings

_PREFIX = Settings.model_config.get("env_prefix", "")


def is_settings_error(error: ValidationError) -> bool:
    return error.title == Settings.__name__


def settings_error_lines(error: ValidationError) -> list[str]:
    """`GRIDJOURNEY_COHORT_BATCH_SIZE='0': Input should be greater than or equal to 1`, one per error."""
    lines = []
    for problem in error.errors(include_url=False):
        name = "_".join(str(part) for part in problem["loc"][:1]).upper()
        variable = f"{_PREFIX}{name}" if name else "settings"
        given = problem.get("input")
        shown = f"={given!r}" if isinstance(given, str | int | float) else ""
        reason = problem["msg"].removeprefix("Value error, ")
        lines.append(f"setting {variable}{shown}: {reason}")
    return lines


_FIELD = re.compile(r'field "(?P<field>[^"]+)"')


def settings_source_line(error: SettingsError) -> str:
    """pydantic-settings refuses a value it cannot parse as JSON (a mapping or list setting) before
    validation, naming only the field: `setting GRIDJOURNEY_WEATHER_STATIONS: not valid JSON`."""
    found = _FIELD.search(str(error))
    variable = f"{_PREFIX}{found['field'].upper()}" if found else "settings"
    cause = f" ({error.__cause__})" if error.__cause__ is not None else ""
    return f"setting {variable}: not valid JSON{cause}"
