"""An API process collects its young objects rarely: a batch's objects are freed before a walk sees them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gridjourney.api.server import GC_YOUNG_THRESHOLD, freeze_start_up

PYTHONS_DEFAULT = (700, 10, 10)


@pytest.fixture
def restored_gc() -> Iterator[tuple[int, int, int]]:
    """Python's default thresholds for the test (another test may have started an API in this
    process), the process's own afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(*PYTHONS_DEFAULT)
    yield PYTHONS_DEFAULT
    gc.unfreeze()
    gc.set_threshold(*before)


def test_start_up_raises_the_young_threshold_and_keeps_the_older_ones(
    restored_gc: tuple[int, int, int],
) -> None:
    freeze_start_up()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, restored_gc[1], restored_gc[2])
    assert restored_gc[0] < GC_YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0
