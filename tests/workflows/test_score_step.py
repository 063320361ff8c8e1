"""The `score` step in JourneyWorkflow: a branch after it sees the refreshed score; no score goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from gridjourney.workflows.contracts import CustomerContext, ScoreOutcome
from gridjourney.workflows.decisions import with_scores
from tests.workflows.helpers import finish, start
from tests.workflows.standins import StandIns, compiled

SCORE_THEN_BRANCH = """
id: score_then_branch
purpose: marketing
trigger: {event: bill.projection_updated}
steps:
  - id: route_before
    branch:
      - when: "customer.scores.dr_propensity > 0.6"
        goto: refresh
      - goto: refresh
  - id: refresh
    score: {model: dr_propensity, max_age: 7d}
  - id: route
    branch:
      - when: "customer.scores.dr_propensity > 0.6"
        goto: offer_dr
      - goto: tips
  - id: offer_dr
    send: {channels: [email], template: dr_enrollment_offer}
    next: end
  - id: tips
    send: {channels: [email], template: saving_tips}
"""


def _customer(standins: StandIns, customer_id: str, dr_propensity: float) -> None:
    standins.customers[customer_id] = CustomerContext(
        customer_id=customer_id,
        attributes={
            "scores": {"dr_propensity": dr_propensity, "churn_risk": 0.4},
            "scores_updated_at": {"dr_propensity": "2020-01-01T00:00:00+00:00"},
        },
    )


async def test_the_branch_after_a_score_sees_the_refreshed_score(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    # loaded before the step with an old, low score; the model now says 0.82
    _customer(standins, "c-1", 0.2)
    standins.model_scores[("c-1", "dr_propensity")] = 0.82
    final = await finish(env, await start(env, compiled(SCORE_THEN_BRANCH), "c-1"))

    assert final.status == "completed"
    assert standins.steps() == [
        ("route_before", "refresh"),
        ("refresh", "scored:0.820"),
        ("route", "offer_dr"),
        ("offer_dr", "sent:email"),
    ]
    [request] = standins.score_requests
    assert (request.customer_id, request.score, request.model) == ("c-1", "dr_propensity", "dr_enrolment")
    assert (request.version, request.max_age) == (None, timedelta(days=7))
    # its event id is the run's own (deterministic), distinct from the journey events'
    assert request.event_id not in {record.event_id for record in standins.records}
    [completed] = [r for r in standins.of_type("journey.step_completed") if r.payload["step_id"] == "refresh"]
    assert completed.payload["kind"] == "score"
    assert completed.payload["next_step"] == "route"


async def test_the_new_score_counts_even_before_the_projection_has_it(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    _customer(standins, "c-2", 0.2)
    standins.model_scores[("c-2", "dr_propensity")] = 0.9
    standins.project_scores = False  # load_context keeps answering 0.2
    await finish(env, await start(env, compiled(SCORE_THEN_BRANCH), "c-2"))
    assert ("route", "offer_dr") in standins.steps()
    assert standins.context_loads == 2  # loaded again after the score step


async def test_a_skipped_score_goes_on_with_the_score_it_had(
    env: WorkflowEnvironment, standins: StandIns
) -> None:
    _customer(standins, "c-3", 0.2)  # no model score configured: the stand-in has no trained model
    final = await finish(env, await start(env, compiled(SCORE_THEN_BRANCH), "c-3"))
    assert final.status == "completed"
    assert standins.steps() == [
        ("route_before", "refresh"),
        ("refresh", "skipped:no trained dr_enrolment model"),
        ("route", "tips"),
        ("tips", "sent:email"),
    ]


async def test_a_customer_without_scores_gets_one(env: WorkflowEnvironment, standins: StandIns) -> None:
    standins.model_scores[("c-4", "dr_propensity")] = 0.7
    await finish(env, await start(env, compiled(SCORE_THEN_BRANCH), "c-4"))
    assert ("route", "offer_dr") in standins.steps()


def test_refreshed_scores_win_only_over_older_ones() -> None:
    at = datetime(2025, 6, 1, tzinfo=UTC)
    refreshed = [ScoreOutcome(status="scored", score="dr_propensity", value=0.8, updated_at=at)]
    older = {
        "scores": {"dr_propensity": 0.1, "churn": 0.3},
        "scores_updated_at": {"dr_propensity": "2025-05-01T00:00:00+00:00"},
    }
    assert with_scores(older, refreshed) == {
        "scores": {"dr_propensity": 0.8, "churn": 0.3},
        "scores_updated_at": {"dr_propensity": at.isoformat()},
    }
    newer = {
        "scores": {"dr_propensity": 0.5},
        "scores_updated_at": {"dr_propensity": "2025-06-02T00:00:00+00:00"},
    }
    assert with_scores(newer, refreshed)["scores"] == {"dr_propensity": 0.5}
    assert with_scores({}, refreshed)["scores"] == {"dr_propensity": 0.8}
    skipped = [ScoreOutcome(status="skipped", score="dr_propensity", reason="no model")]
    assert with_scores(older, skipped)["scores"] == older["scores"]
