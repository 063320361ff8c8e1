"""The benchmarks set GRIDJOURNEY_* variables for the servers they start; a test that runs one puts the
environment and the settings built from it back afterwards, so later tests see their own."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from gridjourney.config import get_settings
from gridjourney.privacy.keyring import process_keyring


@contextlib.contextmanager
def restored_environment() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        process_keyring.cache_clear()
