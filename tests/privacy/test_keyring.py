"""Keys from settings: the embedded stack's generated key, the configured keys and their errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gridjourney.config import Settings
from gridjourney.privacy.keyring import (
    EMBEDDED_KEY_FILE,
    KeyConfigurationError,
    generate_key,
    keyring_from_settings,
)


def _without_environment(**values: Any) -> Settings:
    """Settings that ignore GRIDJOURNEY_ENCRYPTION_KEYS (tests/conftest.py sets it for the session):
    a dict given to Settings() is merged with the environment's, so an empty one cannot unset it."""
    return Settings.model_construct(**values)


def test_the_embedded_stack_generates_its_key_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    settings = _without_environment(home=tmp_path / "home")
    first = keyring_from_settings(settings)
    key_file = tmp_path / "home" / EMBEDDED_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = keyring_from_settings(settings)  # a restart reads what the first run sealed
    assert again.keys == first.keys
    key_id, sealed = first.encrypt(b"+15035550100")
    assert again.decrypt(key_id, sealed) == b"+15035550100"


def test_a_configured_database_without_keys_is_refused_with_the_setting_to_fix(tmp_path: Path) -> None:
    settings = _without_environment(home=tmp_path, database_url="postgresql+psycopg://db/gj")
    with pytest.raises(KeyConfigurationError, match="GRIDJOURNEY_ENCRYPTION_KEYS is not set"):
        keyring_from_settings(settings)
    assert not (tmp_path / EMBEDDED_KEY_FILE).exists()


def _keyring_in_a_process(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The keyring a gridjourney process builds from exactly this environment."""
    script = (
        "from gridjourney.privacy.keyring import process_keyring\n"
        "keyring = process_keyring()\n"
        "print(keyring.active_id, *sorted(keyring.keys))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_keys_come_from_the_environment_as_json(tmp_path: Path) -> None:
    keys = json.dumps({"2026-10": generate_key(), "2026-11": generate_key()})
    base = {
        "PATH": os.environ["PATH"],
        "GRIDJOURNEY_HOME": str(tmp_path),
        "GRIDJOURNEY_ENCRYPTION_KEYS": keys,
    }
    rotated = _keyring_in_a_process(base | {"GRIDJOURNEY_ENCRYPTION_KEY_ID": "2026-11"})
    assert rotated.stdout.split() == ["2026-11", "2026-10", "2026-11"], rotated.stderr
    unnamed = _keyring_in_a_process(base)  # two keys: which one encrypts must be said
    assert unnamed.returncode != 0
    assert "GRIDJOURNEY_ENCRYPTION_KEY_ID" in unnamed.stderr


@pytest.mark.parametrize(
    ("keys", "active", "reason"),
    [
        ({"k": SecretStr("c2hvcnQ=")}, None, "base64 of 32 random bytes"),
        ({"k": SecretStr("not base64!")}, None, "base64 of 32 random bytes"),
        ({"k": SecretStr(generate_key())}, "other", "not among the configured keys"),
    ],
)
def test_bad_keys_are_refused_naming_the_setting(
    keys: dict[str, SecretStr], active: str | None, reason: str
) -> None:
    with pytest.raises(KeyConfigurationError, match=reason):
        keyring_from_settings(_without_environment(encryption_keys=keys, encryption_key_id=active))
