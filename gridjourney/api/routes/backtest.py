"""POST /v1/journeys/backtest: `gridjourney journeys backtest` over HTTP (gridjourney/backtest/).
The journey is named in the body (`journey_id`, the latest published version) or given whole as a
draft (`source_yaml`). No POST route takes /v1/journeys/{journey_id}, so a journey called `backtest`
is still GET /v1/journeys/backtest."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from gridjourney.api.deps import EngineDep, JourneysReader, SettingsDep
from gridjourney.api.problems import FieldError, invalid, not_found, problem_responses
from gridjourney.backtest.period import parse_bound
from gridjourney.backtest.run import NotReplayable, backtest
from gridjourney.dsl import registry
from gridjourney.dsl.loader import JourneyErrors
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.policy.loader import PolicyErrors, policy_from_settings

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])

DRAFT_EXAMPLE = """\
id: winter_prep
purpose: informational
trigger: {event: bill.issued, when: "customer.heating == 'electric'"}
entry: {reentry: once_per_window, window: 300d}
steps:
  - id: tips
    send: {channels: [email], template: saving_tips}
"""


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    journey_id: str | None = Field(
        None,
        description="A published journey: its latest version is replayed. Optional with `source_yaml` "
        "(then it must be the draft's `id`).",
        examples=["high_bill_alert"],
    )
    source_yaml: str | None = Field(
        None,
        description="A draft of the journey, not published yet: replayed instead of a published version.",
    )
    start: str = Field(
        alias="from",
        description="First day (YYYY-MM-DD, UTC) or an ISO 8601 time with its zone.",
        examples=["2026-11-01"],
    )
    end: str = Field(
        alias="to",
        description="Last day, included (or an ISO 8601 time, excluded).",
        examples=["2026-11-30"],
    )


class MessageCount(BaseModel):
    channel: str
    template: str
    locale: str
    count: int


class StepResult(BaseModel):
    step_id: str
    kind: str
    reached: int = Field(description="Runs that reached the step.")
    examples: list[str] = Field(description="The first 10 customers who reached it.")
    outcomes: dict[str, int] = Field(description="Branch cases, split arms, event or timeout, ...")
    messages: list[MessageCount] = Field(description="Messages it would send.")
    refused: int = Field(description="Messages no channel could take.")
    suppressed: dict[str, int] = Field(
        description="Refusals by reason, one per channel tried: no_consent, consent_revoked, stop, "
        "frequency_cap, suppressed_address, no_contact_point, ..."
    )
    deferred_quiet_hours: int = Field(description="Messages deferred by quiet hours (sent later).")
    held_out: int = Field(description="Runs in the holdout group at this step: nothing sent.")


class BacktestResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    journey_id: str
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    events_in_range: int = Field(description="0: the log has no events in the period; nothing was replayed.")
    triggers_matched: int
    entered: int
    entry_examples: list[str]
    blocked_by_reentry: dict[str, int]
    holdout: int
    converted: int
    exits: dict[str, int]
    still_active: int
    messages_by_channel: dict[str, int]
    refused: int = Field(description="Messages no channel could take, all steps.")
    suppressed_by_reason: dict[str, int]
    deferred_quiet_hours: int
    steps: list[StepResult]
    cohort_runs: int = Field(
        0, description="A cohort journey: the runs its triggering events started (one per key)."
    )
    failed_runs: dict[str, int] = Field(
        default_factory=dict, description="A cohort journey: runs whose audience failed, by reason."
    )
    not_replayed: list[str] = Field(
        default_factory=list,
        description="What the replay left out and how that affects the counts (a DR target's pick, "
        "dr_performance, score steps), for people.",
    )


@router.post(
    "/backtest",
    summary="Replay a period of the event log through a journey, without sending",
    description="Per step: who reaches it, the messages per channel, template and locale, the messages "
    "the compliance policy holds back and why, entries the re-entry rule keeps out, and the first 10 "
    "customers. Nothing is sent and no workflow starts.",
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 404, 422),
)
async def post_backtest(
    body: Annotated[
        BacktestRequest,
        Body(
            openapi_examples={
                "published": {
                    "summary": "A published journey over November",
                    "value": {"journey_id": "high_bill_alert", "from": "2026-11-01", "to": "2026-11-30"},
                },
                "draft": {
                    "summary": "A draft of winter_prep, not published yet",
                    "value": {"source_yaml": DRAFT_EXAMPLE, "from": "2026-11-01", "to": "2026-11-30"},
                },
            }
        ),
    ],
    _: JourneysReader,
    engine: EngineDep,
    settings: SettingsDep,
) -> BacktestResult:
    errors = []
    bounds = {}
    for name, text, is_end in (("from", body.start, False), ("to", body.end, True)):
        try:
            bounds[name] = parse_bound(text, end=is_end)
        except ValueError as error:
            errors.append(FieldError(field=name, reason=str(error)))
    if errors:
        raise invalid("the backtest request is invalid", errors)
    journey = await _journey(body.journey_id, body.source_yaml, engine, settings)
    try:
        policy = policy_from_settings(settings)
        report = await backtest(
            engine, journey, policy, bounds["from"], bounds["to"], templates_dir=settings.templates_dir
        )
    except NotReplayable as error:
        raise invalid(str(error), [FieldError(field="to", reason=str(error))]) from error
    except PolicyErrors as error:
        reason = str(error.errors[0])
        raise invalid(
            "the compliance policy cannot be used", [FieldError(field="policy", reason=reason)]
        ) from None
    result: dict[str, Any] = report.as_json()
    return BacktestResult.model_validate(result)


async def _journey(
    journey_id: str | None, source_yaml: str | None, engine: EngineDep, settings: SettingsDep
) -> CompiledJourney:
    if source_yaml is None:
        if journey_id is None:
            reason = "name a published journey, or give a draft in source_yaml"
            raise invalid(reason, [FieldError(field="journey_id", reason=reason)])
        journey = await registry.latest(engine, journey_id)
        if journey is None:
            raise not_found("journey", journey_id, field="journey_id")
        return journey
    try:
        draft = registry.prepare(
            source_yaml, "source_yaml", settings.templates_dir, safety_event_types=settings.safety_event_types
        )
    except JourneyErrors as exc:
        errors = [
            FieldError(field="source_yaml", reason=e.message, line=e.line, column=e.column, hint=e.hint)
            for e in exc.errors
        ]
        raise invalid(f"{len(errors)} error(s) in the journey", errors) from exc
    if journey_id is not None and draft.journey_id != journey_id:
        reason = f"the draft's id is {draft.journey_id!r}, journey_id is {journey_id!r}"
        raise invalid(reason, [FieldError(field="source_yaml", reason=reason)])
    return draft
