"""The "did you mean" hint of a problem that names something unknown (a key, a step, a function)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, candidates: Iterable[str], what: str) -> str:
    """`did you mean `x`? {what}: a, b, c` when one is close, else the list alone."""
    known = sorted(set(candidates))
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    listed = ", ".join(known)
    return f"did you mean `{close[0]}`? {what}: {listed}" if close else f"{what}: {listed}"
