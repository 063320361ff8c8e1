"""policy.yaml → Policy, with every error located as `file:line:column`, as journeys are.

The file goes through the journeys' bounded reader (gridjourney/dsl/loader.py: no anchors or
aliases, limited nesting and size), then the pydantic model (policy/model.py). Each validation error
is reported at the value it is about, or at the key when the key itself is wrong (an unknown purpose).
`policy_from_settings` keeps the loaded policy per file and modification time, so an edited file is
read again on the next send, and an unchanged one is not re-parsed each time.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from gridjourney.config import Settings
from gridjourney.dsl.loader import Positions, compose_with_positions
from gridjourney.file_errors import FileError, FileErrors, located_in
from gridjourney.policy.model import Policy

Path = tuple[str | int, ...]
GENERIC_HINT = "see `gridjourney policy schema` for the policy's fields"


class PolicyError(FileError):
    """A problem in a policy file, at its line and column."""


class PolicyErrors(FileErrors[PolicyError]):
    """A policy file that cannot be used; `errors` holds every problem found, in file order."""


def load_policy_text(text: str, filename: str) -> Policy:
    data, positions, problems = compose_with_positions(text, filename)
    if problems:
        raise PolicyErrors(
            PolicyError(p.file, p.line, p.column, p.message, _policy_hint(p.hint)) for p in problems
        )
    if not isinstance(data, dict):
        line, column = positions.at(())
        raise PolicyErrors(
            [PolicyError(filename, line, column, "a policy file must be a mapping", GENERIC_HINT)]
        )
    try:
        policy = Policy.model_validate(data)
    except ValidationError as error:
        raise PolicyErrors(_located(error, data, positions)) from None
    untranslated = policy.untranslated()
    if untranslated:
        hint = "add that locale's text to the program field, or give the field one text for every locale"
        raise PolicyErrors(_at(positions, path, why, hint) for path, why in untranslated)
    return policy


def load_policy(path: str | FsPath) -> Policy:
    """Raises PolicyErrors (also for a file that cannot be read, at 1:1)."""
    path = FsPath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise PolicyErrors([PolicyError(str(path), 1, 1, f"cannot read the policy: {reason}")]) from None
    return load_policy_text(text, str(path))


_cache: dict[tuple[str, int], Policy] = {}
_cache_lock = threading.Lock()


def policy_from_settings(settings: Settings) -> Policy:
    """The policy at `settings.policy_file` (relative to the working directory, like journeys_dir)."""
    path = FsPath(settings.policy_file)
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return load_policy(path)  # raises PolicyErrors naming the file
    key = (str(path.resolve()), stamp)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    policy = load_policy(path)
    with _cache_lock:
        # Only the current version of each file is kept.
        for old in [k for k in _cache if k[0] == key[0]]:
            del _cache[old]
        _cache[key] = policy
    return policy


# --- pydantic errors → positioned errors -----------------------------------------------------------
def _policy_hint(hint: str | None) -> str:
    # The shared reader's hints speak of journeys where they are about what a file should contain.
    return hint if hint and "journey" not in hint else GENERIC_HINT


def _located(error: ValidationError, data: Any, positions: Positions) -> list[PolicyError]:
    found: list[PolicyError] = []
    choices: dict[Path, list[str]] = {}  # a union of literals (`sms|email|push` or `any`): one error
    for item in error.errors(include_url=False):
        path, rest = located_in(item["loc"], data)
        if item["type"] == "literal_error" and rest[:1] != ("[key]",):
            choices.setdefault(path, []).append(str(item.get("ctx", {}).get("expected", "")))
            continue
        found.append(_describe(item, path, rest, positions))
    for path, expected in choices.items():
        where = ".".join(str(p) for p in path) or "the policy"
        found.append(
            _at(positions, path, f"{where}: not an allowed value", f"use one of {', '.join(expected)}")
        )
    return list(dict.fromkeys(found))


def _describe(item: Any, path: Path, rest: Path, positions: Positions) -> PolicyError:
    kind: str = item["type"]
    where = ".".join(str(p) for p in path) or "the policy"
    message = str(item["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        name = str(rest[-1] if rest else path[-1])
        return _at(positions, path, f"`{name}` is required here", f"add `{name}:` to this mapping")
    if kind == "extra_forbidden":
        return _at(positions, path, f"unknown key `{path[-1]}`", GENERIC_HINT, key=True)
    if rest[:1] == ("[key]",):  # a mapping key pydantic refused: e.g. a purpose that does not exist
        expected = item.get("ctx", {}).get("expected", "")
        return _at(
            positions, path, f"unknown {path[-2]} key `{path[-1]}`", f"use one of {expected}", key=True
        )
    field = next((part for part in reversed(path) if isinstance(part, str)), "")
    return _at(positions, path, f"{where}: {message}", _HINTS.get(field, GENERIC_HINT))


_HINTS: dict[str, str] = {
    "sending_hours": 'write "HH:MM-HH:MM" windows that do not overlap, e.g. "08:00-21:00"',
    "max": "a cap allows at least 1 message; to send none, remove the purpose's consent instead",
    "per": "write a duration such as 1d or 7d",
    "default_time_zone": "an IANA zone, e.g. America/Chicago",
    "from_number": "an E.164 number, e.g. +15035550142",
    "from_address": "an email address, e.g. alerts@example.com",
    "reply_to": "an email address, e.g. help@example.com",
    "purposes": "give rules for marketing, informational and safety",
}


def _at(positions: Positions, path: Path, message: str, hint: str, *, key: bool = False) -> PolicyError:
    line, column = positions.key_at(path) if key else positions.at(path)
    return PolicyError(positions.file, line, column, message, hint)
