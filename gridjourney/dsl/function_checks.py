"""The compiler's checks of the date and history functions that need the journey as a whole
(dsl/expressions.py checks each call on its own: arity, event type, window, `where`):

- `in_journey("x")` names a journey: one of the journey files in the journeys directory
  (GRIDJOURNEY_JOURNEYS_DIR) or beside the file being checked, or the journey itself. An id found in
  neither is an error with a "did you mean": a journey that exists elsewhere belongs beside the others.
  Checked when a file is (`journeys validate`, `journeys publish`); a journey checked from text alone
  (POST /v1/journeys, a test's string) has no neighbours to compare with, and is not.
- A cohort run (mode cohort, schedule triggers too) decides for a whole audience in batches; its
  conditions and a schedule's `audience` have no single customer's moment, zone or history loaded,
  so the functions are refused there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from gridjourney.config import get_settings
from gridjourney.dsl.expression_bounds import shown
from gridjourney.dsl.expression_paths import expression_paths
from gridjourney.dsl.functions import SIGNATURES, journeys_named, uses_functions
from gridjourney.dsl.loader import JourneyError, Positions
from gridjourney.dsl.schema import JourneyDefinition
from gridjourney.dsl.suggestions import did_you_mean

_ID_LINE = re.compile(r"""^id:\s*["']?([A-Za-z0-9_.\-]+)""", re.MULTILINE)
COHORT_HINT = (
    "now(), days_since(), local_date(), had() and in_journey() read one customer's moment and history: "
    "use them in a per_customer journey"
)


def check_functions(definition: JourneyDefinition, positions: Positions) -> Iterator[JourneyError]:
    known: set[str] | None = None
    audiences = [
        (("trigger", i, "audience"), t.audience) for i, t in enumerate(definition.trigger) if t.audience
    ]
    for path, expr in [*expression_paths(definition), *audiences]:
        if definition.mode == "cohort" and uses_functions(expr, SIGNATURES):
            yield positions.error(
                path,
                f"expression {shown(expr)}: a cohort run has no single customer's date or history",
                COHORT_HINT,
            )
        named = journeys_named(expr)
        if not named or not Path(positions.file).is_file():
            continue
        if known is None:
            beside = journey_ids(Path(positions.file).parent)
            known = {definition.id, *journey_ids(get_settings().journeys_dir), *beside}
        for journey_id in sorted(named - known):
            yield positions.error(
                path,
                f"expression {shown(expr)}: in_journey(): unknown journey `{journey_id}`",
                did_you_mean(journey_id, known, "journeys"),
            )


def journey_ids(directory: Path) -> frozenset[str]:
    """The ids of the journey files in `directory` (read from their `id:` line; none if it is absent)."""
    if not directory.is_dir():
        return frozenset()
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    return _ids(tuple((str(f), f.stat().st_mtime_ns) for f in files))


@lru_cache(maxsize=16)
def _ids(files: tuple[tuple[str, int], ...]) -> frozenset[str]:
    found = set()
    for name, _modified in files:
        match = _ID_LINE.search(Path(name).read_text(encoding="utf-8", errors="replace"))
        if match is not None:
            found.add(match.group(1))
    return frozenset(found)
