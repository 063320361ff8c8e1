"""The `score` step in the journey language: parsing, the known score names, located errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gridjourney.dsl.compiler import check_journey, compile_journey, definition_hash
from gridjourney.dsl.loader import JourneyError, JourneyErrors, load_journey_with_positions
from gridjourney.dsl.schema import SCORE_MODELS, JourneyDefinition, ScoreSpec, ScoreStep
from gridjourney.scoring import propensity
from gridjourney.scoring.training import MODEL_NAMES

HEAD = """\
id: scoring
purpose: marketing
trigger: {event: bill.projection_updated}
steps:
"""


def check(steps: str) -> tuple[JourneyDefinition, list[JourneyError]]:
    loaded = load_journey_with_positions(HEAD + steps, "j.yaml")
    return loaded.definition, check_journey(loaded.definition, loaded.positions, None)


def test_a_score_step_parses_and_compiles() -> None:
    definition, errors = check(
        """\
  - id: refresh
    score: {model: dr_propensity, version: 3, max_age: 7d}
  - id: churn_now
    score: churn_risk
  - id: route
    branch:
      - when: "customer.scores.dr_propensity > 0.6 and customer.scores.churn_risk < 0.5"
        goto: end
"""
    )
    assert errors == []
    refresh, churn_now, _ = definition.steps
    assert refresh == ScoreStep(
        id="refresh", score=ScoreSpec(model="dr_propensity", version=3, max_age=timedelta(days=7))
    )
    assert refresh.score.model_name == "dr_enrolment"
    assert isinstance(churn_now, ScoreStep)  # `score: churn_risk` is short for {model: churn_risk}
    assert churn_now.score == ScoreSpec(model="churn_risk")
    assert churn_now.score.model_name == "churn"
    compiled = compile_journey(
        definition, version=1, content_hash=definition_hash(definition), templates_dir=None
    )
    assert compiled.successors == {"refresh": "churn_now", "churn_now": "route", "route": None}


def test_an_unknown_model_is_refused_at_its_line_and_column() -> None:
    _, errors = check(
        """\
  - id: refresh
    score: {model: dr_propensty}
  - id: other
    score:
      model: dr_enrolment
"""
    )
    assert [(e.line, e.column, e.message) for e in errors] == [
        (6, 20, "unknown score model `dr_propensty`"),
        (9, 14, "unknown score model `dr_enrolment`"),
    ]
    assert errors[0].hint is not None and "did you mean `dr_propensity`?" in errors[0].hint
    # a model's saved name is pointed to the score it gives
    assert errors[1].hint == "the dr_enrolment model's score is called `dr_propensity`"


def test_the_churn_model_is_pointed_to_its_score_name() -> None:
    _, [error] = check("  - id: refresh\n    score: churn\n")
    assert (error.line, error.column, error.hint) == (
        6,
        12,
        "the churn model's score is called `churn_risk`",
    )


def test_compile_refuses_an_unknown_model() -> None:
    definition, _ = check("  - id: refresh\n    score: {model: credit_risk}\n")
    with pytest.raises(JourneyErrors, match="unknown score model `credit_risk`"):
        compile_journey(definition, version=1, content_hash="h", templates_dir=None)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{model: churn_risk, version: 0}", "greater than or equal to 1"),
        ("{model: churn_risk, max_age: soon}", "is not a duration"),
        ("{model: churn_risk, refresh: true}", "unknown key `refresh`"),
        ("{version: 2}", "model"),
    ],
)
def test_a_bad_score_spec_is_located(spec: str, message: str) -> None:
    with pytest.raises(JourneyErrors) as raised:
        load_journey_with_positions(HEAD + f"  - id: refresh\n    score: {spec}\n", "j.yaml")
    [error] = raised.value.errors
    assert error.line == 6
    assert message in error.message


def test_score_names_map_to_the_propensity_models_training_saves() -> None:
    assert set(SCORE_MODELS.values()) == set(propensity.TARGETS)
    assert set(SCORE_MODELS.values()) <= set(MODEL_NAMES)


def test_the_json_schema_documents_the_step_and_its_names() -> None:
    document = JourneyDefinition.model_json_schema()
    spec = document["$defs"]["ScoreSpec"]
    assert spec["required"] == ["model"]
    for name, model in SCORE_MODELS.items():
        assert f"`{name}` (model {model})" in spec["properties"]["model"]["description"]
    step_refs = {ref["$ref"] for ref in document["properties"]["steps"]["items"]["oneOf"]}
    assert "#/$defs/ScoreStep" in step_refs
