"""Re-entry rules as workflow ids and Temporal id policies (pure)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from gridjourney.entry.plan import entry_plan
from tests.entry.builders import T0, journey, trigger

REJECT = WorkflowIDReusePolicy.REJECT_DUPLICATE
FAIL = WorkflowIDConflictPolicy.FAIL


def test_once() -> None:
    plan = entry_plan(journey("{reentry: once}"), "c-1", trigger())
    assert (plan.workflow_id, plan.id_reuse_policy, plan.id_conflict_policy) == (
        "journey:bill_alert:c-1",
        REJECT,
        FAIL,
    )
    assert entry_plan(journey("{reentry: once}"), "c-1", trigger("e-2")) == plan


def test_after_exit() -> None:
    plan = entry_plan(journey("{reentry: after_exit}"), "c-1", trigger())
    assert plan.workflow_id == "journey:bill_alert:c-1"
    assert plan.id_reuse_policy == WorkflowIDReusePolicy.ALLOW_DUPLICATE
    assert plan.id_conflict_policy == FAIL  # never a second instance while one runs


def test_once_per_window_names_the_instance_by_its_trigger() -> None:
    """The window itself is checked against the entry record (tests/entry/test_enter.py); the id only
    has to name the same instance when the same trigger is delivered again."""
    window = journey("{reentry: once_per_window, window: 30d}")
    plan = entry_plan(window, "c-1", trigger("e-1"))
    assert plan.workflow_id == "journey:bill_alert:c-1:we-1"
    assert (plan.id_reuse_policy, plan.id_conflict_policy) == (REJECT, FAIL)
    assert entry_plan(window, "c-1", trigger("e-1", T0 + timedelta(days=1))) == plan
    assert entry_plan(window, "c-1", trigger("e-2")).workflow_id == "journey:bill_alert:c-1:we-2"


def test_every_trigger() -> None:
    plan = entry_plan(journey("{reentry: every_trigger}"), "c-1", trigger("e-9"))
    assert plan.workflow_id == "journey:bill_alert:c-1:ee-9"
    assert (plan.id_reuse_policy, plan.id_conflict_policy) == (REJECT, FAIL)
