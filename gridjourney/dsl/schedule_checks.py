"""The compiler's checks of a journey with a `schedule` trigger (dsl/schedule.py).

Each fire is one cohort run over the audience, so what a cohort run cannot do (per-customer entry
rules, goals, waits for each member's local time: dsl/cohort_checks.py) is refused here too. A
scheduled run is started by the clock, not by an event: it hears no events, so `exit_on` and
`wait_for` are refused, and its audience is `trigger.audience`, not a `cohort` block.
"""

from __future__ import annotations

from collections.abc import Iterator

from gridjourney.dsl.cohort_checks import check_run_wide
from gridjourney.dsl.expression_bounds import shown
from gridjourney.dsl.expressions import Scope, check_condition
from gridjourney.dsl.loader import JourneyError, Positions
from gridjourney.dsl.pointing import pointed_error
from gridjourney.dsl.schedule import SCHEDULE_EVENT_FIELDS, ScheduleSpec, schedule_problems
from gridjourney.dsl.schema import JourneyDefinition, WaitForStep
from gridjourney.dsl.template_checks import CUSTOMER_HINT
from gridjourney.dsl.vocabulary import customer_shape

HEARS_NO_EVENTS = "a scheduled run is started by the clock and hears no events"
FALLBACK_ZONE = "UTC"  # when the policy cannot be read (its own validation reports why)


def utility_zone() -> str:
    """The utility's zone: the compliance policy's `default_time_zone` (GRIDJOURNEY_POLICY_FILE)."""
    from gridjourney.config import get_settings
    from gridjourney.policy.loader import PolicyErrors, policy_from_settings

    try:
        return policy_from_settings(get_settings()).default_time_zone
    except PolicyErrors:
        return FALLBACK_ZONE


def check_schedule(
    definition: JourneyDefinition, positions: Positions, default_zone: str | None = None
) -> Iterator[JourneyError]:
    """Every problem of a scheduled journey; `default_zone`: the utility's (default: the policy's)."""
    zone = utility_zone() if default_zone is None else default_zone
    for i, trigger in enumerate(definition.trigger):
        if trigger.schedule is None:
            yield positions.error(
                ("trigger", i),
                "a journey with a `schedule` trigger has no other trigger",
                "make a journey of its own for the event",
            )
            continue
        if trigger.when is not None:
            yield positions.error(
                ("trigger", i, "when"),
                "a schedule has no event for `when` to test",
                "select the customers with `audience`",
                key=True,
            )
        yield from _schedule_problems(trigger.schedule, i, zone, positions)
        if trigger.audience is not None:
            yield from _audience_problems(trigger.audience, i, positions)
    if definition.cohort is not None:
        yield positions.error(
            ("cohort",),
            "a scheduled journey's runs are one per fire, over `trigger.audience`: it has no `cohort` block",
            "remove `cohort`, and select the customers with the trigger's `audience`",
            key=True,
        )
    for j in range(len(definition.exit_on)):
        yield positions.error(
            ("exit_on", j), f"{HEARS_NO_EVENTS}: nothing can end it early", "remove `exit_on`"
        )
    for i, step in enumerate(definition.steps):
        if isinstance(step, WaitForStep):
            yield positions.error(
                ("steps", i, "wait_for"),
                f"{HEARS_NO_EVENTS}: a `wait_for` would always time out",
                "wait for a duration (`wait: 7d`), or start a per_customer journey on the event",
                key=True,
            )
    yield from check_run_wide(definition, positions)


def _schedule_problems(spec: ScheduleSpec, i: int, zone: str, positions: Positions) -> Iterator[JourneyError]:
    for problem in schedule_problems(spec, zone):
        path = ("trigger", i, "schedule") + (() if problem.key is None else (problem.key,))
        yield positions.error(path, problem.message, problem.hint)


def _audience_problems(audience: str, i: int, positions: Positions) -> Iterator[JourneyError]:
    scope: dict[str, Scope] = {"customer": customer_shape(), "event": SCHEDULE_EVENT_FIELDS}
    for problem in check_condition(audience, scope):
        hint = CUSTOMER_HINT if problem.startswith("`customer") else "the audience reads `customer`"
        yield pointed_error(
            positions, ("trigger", i, "audience"), audience, f"expression {shown(audience)}: {problem}", hint
        )
