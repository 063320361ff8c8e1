"""Deterministic bucketing: holdout and split assignments that are stable per customer.

sha256 rather than Python's `hash()`, which is salted per process: a workflow replayed on another
worker, or an analyst recomputing the assignment later, must get the same answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_SCALE = float(2**64)


def unit_interval(*parts: str) -> float:
    """A number in [0, 1), uniformly spread and fixed for these parts."""
    # "\x1f" (unit separator) keeps ("a:b", "c") and ("a", "b:c") apart.
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_holdout(journey_id: str, customer_id: str, fraction: float) -> bool:
    """Whether the customer is in the journey's holdout group (entered and recorded, sent nothing).

    Keyed by journey id, not version, so publishing a new version does not reshuffle the groups.
    """
    if fraction <= 0:
        return False
    return unit_interval("holdout", journey_id, customer_id) < fraction


def weighted_choice(options: Sequence[tuple[T, float]], *parts: str) -> T:
    """The option whose share of the total weight covers this key's point in [0, 1)."""
    if not options:
        raise ValueError("weighted_choice needs at least one option")
    total = sum(weight for _, weight in options)
    if total <= 0:
        raise ValueError("weights must add up to more than zero")
    point = unit_interval(*parts) * total
    cumulative = 0.0
    for option, weight in options:
        cumulative += weight
        if point < cumulative:
            return option
    return options[-1][0]  # float rounding can leave the point a hair above the last boundary


def split_arm(options: Sequence[tuple[T, float]], journey_id: str, step_id: str, customer_id: str) -> T:
    """The split arm of a customer at a step: stable for the journey, step and customer."""
    return weighted_choice(options, "split", journey_id, step_id, customer_id)
