"""The journey language, version 1: the pydantic models a journey YAML file is validated into.

This module is the reference for the language (and the source of `gridjourney journeys schema`).
It is pure data: the workflow imports it, so nothing here may do I/O.
"""

from __future__ import annotations

import math
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from gridjourney.dsl.durations import Duration
from gridjourney.dsl.schedule import SCHEDULE_EVENT, ScheduleSpec
from gridjourney.dsl.windows import WINDOWS_JSON_SCHEMA, TimeWindow, check_no_overlap, windows_from_text

Channel = Literal["sms", "email", "push"]
Purpose = Literal["marketing", "informational", "safety"]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Expression = Annotated[
    str,
    Field(
        min_length=1,
        description="A sandboxed expression over `event`, `customer` and `journey`, "
        'e.g. "event.projected_amount > 1.3 * event.typical_amount"',
    ),
]
END = "end"  # as a `next`/`goto` target: finish the journey
MAX_VAR_TEXT = 1_000


def _var_value(value: str | int | float | bool) -> str | int | float | bool:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if isinstance(value, str) and len(value) > MAX_VAR_TEXT:
        raise ValueError(f"is {len(value)} characters; a variable may have at most {MAX_VAR_TEXT}")
    return value


# A split arm's template variable: a literal a message can hold (bounded text, a finite number).
VarValue = Annotated[str | int | float | bool, AfterValidator(_var_value)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- steps ----------------------------------------------------------------------------------------
class StepBase(Strict):
    id: Identifier = Field(
        description="The step's name, unique in the journey: `next`, `goto`, `on_event` and `on_timeout` "
        "point at it, and the timeline shows it. Lowercase letters, digits and _."
    )
    next: Identifier | None = Field(
        None, description="The step that follows; default: the next one in the list. `end` finishes."
    )


class SendSpec(Strict):
    channels: list[Channel] = Field(min_length=1, description="Tried in order: the first eligible is used.")
    template: Identifier = Field(
        description="The message's name: `templates/{channel}/{locale}/{template}.j2` for each channel "
        "and locale (email and push start with a `Subject:` line). Templates read `customer`, `event` "
        "and `journey`; after a split whose arms set `vars`, `vars` (e.g. `{{ vars.subject }}`); after "
        "a `wait_for`'s event, `waited_event`, the event that ended it (e.g. "
        "`{{ waited_event.scheduled_for | local_datetime }}`); and may use the filters listed in "
        "`$defs/TemplateFilter`."
    )
    sending_hours: Annotated[list[TimeWindow] | None, WithJsonSchema(WINDOWS_JSON_SCHEMA)] = Field(
        None,
        description="Local hours this step may send in, narrowing the policy's for the purpose "
        '(e.g. "09:00-18:00", or a list of windows). Outside them the message waits for the next '
        "allowed minute; it is never dropped. Safety messages ignore quiet hours.",
    )

    @field_validator("sending_hours", mode="before")
    @classmethod
    def _parse_windows(cls, value: Any) -> Any:
        return windows_from_text(value)

    @field_validator("sending_hours")
    @classmethod
    def _disjoint(cls, value: list[TimeWindow] | None) -> list[TimeWindow] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("give at least one window, or leave `sending_hours` out")
        return check_no_overlap(value)

    def sending_hours_text(self) -> list[str] | None:
        """The windows as the send activity takes them ("09:00-18:00")."""
        return None if self.sending_hours is None else [str(window) for window in self.sending_hours]


class SendStep(StepBase):
    send: SendSpec = Field(
        description="Send one message on the first channel the customer can receive (consent, contact "
        "details, quiet hours and caps of the compliance policy apply)."
    )


class WaitSpec(Strict):
    duration: Duration | None = Field(None, description="Wait this long: 30m, 12h, 3d or 2w.")
    until_local_time: time | None = Field(
        None, description="Wait until this time of day in the customer's own time zone (e.g. 09:00)."
    )
    until: Expression | None = Field(
        None,
        description="Wait until the time this expression gives (an ISO 8601 timestamp with a zone), "
        'e.g. "event.start"; a time already past does not wait.',
    )
    before: Duration | None = Field(None, description="With `until`: wake this long before that time.")
    after: Expression | None = Field(
        None,
        description="Wait until `duration` after the time this expression gives (an ISO 8601 timestamp "
        'with a zone), e.g. "event.due_date" with `duration: 3d`: three days after the due date; a time '
        "already past does not wait. Before a time: `until` with `before`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `wait: 3d` is a duration
        return {"duration": value} if isinstance(value, str | int) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> WaitSpec:
        if self.after is not None:  # `duration` is then the time after it
            if self.until_local_time is not None or self.until is not None or self.before is not None:
                raise ValueError("`after` goes with `duration` only (`after: event.due_date, duration: 3d`)")
            return self
        given = [value for value in (self.duration, self.until_local_time, self.until) if value is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `duration`, `until_local_time`, `until` or `after`")
        if self.before is not None and self.until is None:
            raise ValueError("`before` goes with `until` only")
        return self


class WaitStep(StepBase):
    wait: WaitSpec = Field(
        description="Pause the journey: for a duration (`wait: 3d`), until a local time of day, until "
        "a time the event gives (`until`, `before`), or a duration after it (`after`, `duration`)."
    )


class WaitForSpec(Strict):
    event: str = Field(
        description="The event type to wait for: about this customer (per_customer), or, in cohort mode, "
        "about the run's event (it carries the field `cohort.key` reads, e.g. `outage.restored`)."
    )
    when: Expression | None = Field(
        None,
        description="Only an event for which this holds ends the wait; `event` is the awaited event, "
        "`trigger` the one that started the journey.",
    )
    timeout: Duration = Field(description="How long to wait for the event before `on_timeout`.")
    on_event: Identifier | None = Field(None, description="Step after the event; default: the next one.")
    on_timeout: Identifier | None = Field(None, description="Step after the timeout; default: the next one.")


class WaitForStep(StepBase):
    wait_for: WaitForSpec = Field(
        description="Wait for an event about the customer, with a timeout; each outcome has its next step."
    )


class BranchCase(Strict):
    when: Expression | None = Field(None, description="Omitted on the last case: the otherwise branch.")
    goto: Identifier = Field(description="The step to go to when this case holds (`end` finishes).")


class BranchStep(StepBase):
    branch: list[BranchCase] = Field(
        min_length=1,
        description="Cases tried in order: the first whose `when` holds is taken; a last case without "
        "`when` is the otherwise branch. When none holds the journey goes on with the next step.",
    )


class SplitArm(Strict):
    weight: float = Field(
        gt=0,
        description="This arm's share, relative to the other arms' weights: 50 and 50, or 1 and 1, "
        "split evenly; 90 and 10 send a tenth down the second arm. A plain number, no `%`.",
    )
    goto: Identifier = Field(description="The step customers of this arm go to.")
    label: str | None = Field(None, description="The arm's name in reports (default: its `goto`).")
    vars: dict[Identifier, VarValue] | None = Field(
        None,
        description="Values this arm gives the later messages of the run, as `{{ vars.<name> }}` in "
        "templates: an A/B test of a subject line needs one template, e.g. "
        '`vars: {subject: "Save on your bill"}` on one arm and `vars: {subject: "Your bill, lower"}` on '
        "the other, and the template's first line `Subject: {{ vars.subject }}`. Every arm of a split "
        "sets the same names.",
    )


class SplitStep(StepBase):
    split: list[SplitArm] = Field(min_length=2, description="Weighted random, stable per customer.")


class UpdateSpec(Strict):
    attribute: Identifier = Field(
        description="The customer attribute to set (then `customer.<attribute>` in later steps); "
        "declare it in customer_attributes.yaml."
    )
    value: str | int | float | bool | None = Field(None, description="The value to set (a literal).")
    expression: Expression | None = Field(None, description="Computed value instead of a literal one.")


class UpdateStep(StepBase):
    update: UpdateSpec = Field(
        description="Set one attribute of the customer (recorded as customer.updated)."
    )


# Journey-facing score names → the propensity model (gridjourney/scoring, `gridjourney models train`)
# that computes them. A `score` step writes `customer.scores.<score name>` (a probability, 0-1) and
# `customer.scores_updated_at.<score name>` (ISO 8601, UTC). The daily scoring scan
# (gridjourney/scoring/customer_scores.py) writes the same names.
SCORE_MODELS: dict[str, str] = {
    "dr_propensity": "dr_enrolment",  # likely to enrol in a demand-response program
    "dr_response": "dr_response",  # likely to reduce load when a DR event is called
    "churn_risk": "churn",  # likely to leave (switch supplier, close the account)
}


class ScoreSpec(Strict):
    model: Identifier = Field(
        description="The score to refresh: "
        + ", ".join(f"`{name}` (model {model})" for name, model in SCORE_MODELS.items())
        + ". Branches then read `customer.scores.<model>`, e.g. `customer.scores.dr_propensity > 0.6`."
    )
    version: int | None = Field(
        None, ge=1, description="The saved model version to use; default: the latest trained."
    )
    max_age: Duration | None = Field(
        None, description="Keep a score refreshed less than this long ago instead of scoring again."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `score: dr_propensity` names the model
        return {"model": value} if isinstance(value, str) else value

    @property
    def model_name(self) -> str | None:
        """The saved model behind this score (None: not a known score; the compiler reports it)."""
        return SCORE_MODELS.get(self.model)


class ScoreStep(StepBase):
    score: ScoreSpec = Field(
        description="Refresh one model score of the customer from their attributes and meter reads. "
        "Without a trained model or with too little history the score is left as it was and the journey "
        "goes on (outcome `skipped:<reason>`)."
    )


class DrPerformanceSpec(Strict):
    credit_per_kwh: float = Field(
        ge=0, le=100, description="Bill credit per kWh saved, in the bill's currency (e.g. 0.5)."
    )
    wait_for_reads: Duration = Field(
        timedelta(days=3),
        description="How long to wait for meter reads that cover the event window; members whose "
        "reads have not arrived by then go on without figures (`performance.known` is false).",
    )


class DrPerformanceStep(StepBase):
    dr_performance: DrPerformanceSpec = Field(
        description="Cohort mode, DR events: each member's kWh saved against their 10-of-10 like-day "
        "baseline, and the bill credit, for the next messages' templates: `performance.kwh_saved`, "
        "`performance.credit`, `performance.responded`, `performance.known`."
    )


class EndStep(StepBase):
    end: Literal[True] = Field(True, description="`end: true` finishes the journey here.")


STEP_KINDS = ("send", "wait", "wait_for", "branch", "split", "score", "update", "dr_performance", "end")


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kinds = [kind for kind in STEP_KINDS if kind in value]
        return kinds[0] if len(kinds) == 1 else None
    if isinstance(value, BaseModel):
        return next((kind for kind in STEP_KINDS if kind in type(value).model_fields and kind != "id"), None)
    return None


Step = Annotated[
    Annotated[SendStep, Tag("send")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[WaitForStep, Tag("wait_for")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[SplitStep, Tag("split")]
    | Annotated[ScoreStep, Tag("score")]
    | Annotated[UpdateStep, Tag("update")]
    | Annotated[DrPerformanceStep, Tag("dr_performance")]
    | Annotated[EndStep, Tag("end")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs exactly one of: " + ", ".join(STEP_KINDS),
    ),
]


# --- the journey ----------------------------------------------------------------------------------
class TriggerSpec(Strict):
    event: str = Field(
        description="The event type that starts the journey: a built-in type or one declared in "
        "events/*.yaml. Engine events (`journey.*`, `message.*`) are never routed to journeys."
    )
    when: Expression | None = Field(
        None, description="Start only when this holds for the event (and the customer)."
    )
    schedule: ScheduleSpec | None = Field(
        None,
        description="Instead of `event`: start at set times, in the utility's time zone "
        '(`{month: november, day: 1, at: "10:00"}` or `{cron: "0 10 1 11 *"}`), once per fire as a '
        "cohort run over `audience`. Its messages see the fire as `event` (`event.scheduled_for`).",
    )
    audience: Expression | None = Field(
        None,
        description="With `schedule`: who the run reaches, an expression over `customer`, e.g. "
        "\"customer.heating == 'electric'\" (`True`: every customer).",
    )

    @model_validator(mode="before")
    @classmethod
    def _scheduled(cls, value: Any) -> Any:
        # a schedule trigger's runs see the fire as their event (dsl/schedule.py)
        if isinstance(value, dict) and "schedule" in value and "event" not in value:
            return {**value, "event": SCHEDULE_EVENT}
        return value

    @model_validator(mode="after")
    def _audience_with_schedule(self) -> TriggerSpec:
        if self.schedule is not None and self.event != SCHEDULE_EVENT:
            raise ValueError("a trigger is an `event` or a `schedule`, not both")
        if (self.schedule is None) != (self.audience is None):
            raise ValueError("`schedule` and `audience` go together: who a scheduled journey reaches")
        return self


class EntrySpec(Strict):
    reentry: Literal["once", "after_exit", "once_per_window", "every_trigger"] = Field(
        "after_exit",
        description="Who may enter again: `once` (never again), `after_exit` (once the previous run "
        "ended), `once_per_window` (at most once per `window`, from the last entry) or `every_trigger` "
        "(every triggering event starts a run).",
    )
    window: Duration | None = Field(None, description="Required with once_per_window.")
    holdout: float = Field(0.0, ge=0.0, lt=1.0, description="Share of customers who receive nothing.")

    @model_validator(mode="after")
    def _window(self) -> EntrySpec:
        if (self.reentry == "once_per_window") != (self.window is not None):
            raise ValueError("`window` is required with reentry once_per_window, and only with it")
        return self


class GoalSpec(Strict):
    event: str = Field(description="The event that counts as the journey's success (a conversion).")
    when: Expression | None = Field(
        None,
        description="Only an event for which this holds counts; `event` is the goal event, `trigger` "
        "the one that started the journey.",
    )
    within: Duration = Field(description="How long after entry the goal event still counts.")


# --- cohort mode ----------------------------------------------------------------------------------
class TargetSpec(Strict):
    kw: Expression = Field(
        description="The reduction to reach, in kW, from the event (e.g. `event.target_kw`). When it "
        "gives null the whole audience is notified."
    )
    rank_by: Literal["expected_reduction", "dr_response", "expected_shed"] = Field(
        "expected_reduction",
        description="Who is picked first: `expected_reduction` (DR-response propensity x expected kW "
        "shed in the event window), `dr_response` (the propensity alone) or `expected_shed`.",
    )


class AudienceSpec(Strict):
    program: Expression | None = Field(
        None, description="Customers enrolled in the program this gives, e.g. `event.program`."
    )
    grid: bool = Field(
        False,
        description="Customers at the premises, transformers or feeders the event names (outages).",
    )
    where: Expression | None = Field(
        None,
        description="A filter over `customer` (and `event`), e.g. `customer.segment == 'residential'`.",
    )
    target: TargetSpec | None = Field(
        None, description="DR: pick members, best first, until the expected reduction reaches a target."
    )
    holdout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Share of the audience kept apart and sent nothing, to measure the real effect.",
    )

    @model_validator(mode="after")
    def _some_source(self) -> AudienceSpec:
        if self.program is None and not self.grid and self.where is None:
            raise ValueError("give the audience a source: `program`, `grid: true` or `where`")
        return self


class MovedBy(Strict):
    field: Identifier = Field(description="A time field of the event, e.g. `etr`.")
    more_than: Duration = Field(
        description="Notify only when it moved by more than this since the last notice."
    )


class UpdateNotice(Strict):
    event: str = Field(description="An update of the cohort's event, e.g. `outage.etr_updated`.")
    send: SendSpec = Field(
        description="The notice. Its templates' `event` is the run's event: list this event type in "
        "`updates` too when the notice shows the fields it brings (e.g. the new `etr`)."
    )
    at_steps: list[Identifier] = Field(
        min_length=1, description="Members waiting at these steps hear about the update."
    )
    moved_by: MovedBy | None = Field(
        None, description="Notify only when a time field of the event moved by more than a duration."
    )
    changed: list[Identifier] = Field(
        default_factory=list,
        description="Notify only when one of these fields of the run's event differs from what the "
        "members were last told, e.g. `[start, end]` of a moved DR event.",
    )
    at_most_every: Duration | None = Field(None, description="At most one such notice per this long.")


class CohortSpec(Strict):
    key: Expression = Field(
        description="What makes one run: an expression over the triggering event, e.g. "
        "`event.dr_event_id`. Later events giving the same key update the run instead of starting one."
    )
    audience: AudienceSpec = Field(description="Who hears of the event: the run's members.")
    updates: list[str] = Field(
        default_factory=list,
        description="Event types whose fields replace the run's `event` fields (e.g. `dr.event_modified` "
        "moves `event.start`, and waits on it move with it).",
    )
    on_update: list[UpdateNotice] = Field(
        default_factory=list,
        description="Notices to members already told, when an update of the run's event arrives.",
    )


class ExitOnSpec(Strict):
    event: str = Field(description="The event type that ends the run wherever it is.")
    when: Expression = Field(
        description="Only an event for which this holds ends the run; `event` is that event, `trigger` "
        'the one that started the journey, e.g. "event.kwh_saved >= 50".'
    )


class JourneyDefinition(Strict):
    id: Identifier = Field(
        description="The journey's name, unique among journeys: versions, reports and the API use it."
    )
    name: str | None = Field(None, description="A readable title for people.")
    description: str | None = Field(None, description="What the journey is for, in a few sentences.")
    mode: Literal["per_customer", "cohort"] = Field(
        "per_customer",
        description="`per_customer`: one run per customer and entry. `cohort`: one run per triggering "
        "event (a DR event, an outage incident) for its whole audience (needs `cohort`), or per fire "
        "of a `schedule` trigger (implied by it).",
    )
    cohort: CohortSpec | None = Field(
        None, description="Cohort mode: what makes one run and who its audience is (with `mode: cohort`)."
    )
    purpose: Purpose = Field(
        description="Which rules of the compliance policy its messages meet: `marketing` (needs "
        "marketing consent; quiet hours and caps), `informational` (service messages) or `safety` "
        "(safety triggers and templates marked `Purpose: safety` only; skips quiet hours and caps)."
    )
    trigger: list[TriggerSpec] = Field(
        min_length=1,
        description="The events that start the journey (one, or a list: any of them), or one "
        "`schedule` with its `audience`.",
    )
    entry: EntrySpec = Field(EntrySpec(), description="Re-entry rule and hold-out.")
    exit_on: list[str | ExitOnSpec] = Field(
        default_factory=list,
        description="Events that end a customer's run wherever it is: an event type "
        "(`bill.issued`), or an event type with a condition "
        '(`{event: usage.reduced, when: "event.kwh_saved >= 50"}`: only such a saving ends it).',
    )
    goal: GoalSpec | None = Field(
        None, description="What counts as success, for the conversion reports (`journey.converted`)."
    )
    steps: list[Step] = Field(
        min_length=1, description="What the journey does, in order: each step has an `id` and one kind."
    )

    @model_validator(mode="before")
    @classmethod
    def _single_trigger(cls, value: Any) -> Any:
        # `trigger: {event: ...}` is a list of one; `trigger: bill.issued` names its event
        if not isinstance(value, dict):
            return value
        trigger = value.get("trigger")
        if isinstance(trigger, dict | str):
            trigger = [trigger]
        if isinstance(trigger, list):
            trigger = [{"event": item} if isinstance(item, str) else item for item in trigger]
            return {**value, "trigger": trigger}
        return value

    @property
    def exit_event_types(self) -> list[str]:
        """The event types `exit_on` names, conditional or not."""
        return [item if isinstance(item, str) else item.event for item in self.exit_on]

    def exit_condition(self, event_type: str) -> tuple[bool, list[str]]:
        """(whether `event_type` ends a run whatever it says, the conditions of its conditional exits)."""
        plain = event_type in self.exit_on
        conditions = [
            item.when for item in self.exit_on if isinstance(item, ExitOnSpec) and item.event == event_type
        ]
        return plain, conditions

    @model_validator(mode="before")
    @classmethod
    def _scheduled_is_cohort(cls, value: Any) -> Any:
        # a schedule trigger runs as a cohort: `mode` may be left out
        if isinstance(value, dict) and "mode" not in value and _has_schedule(value.get("trigger")):
            return {**value, "mode": "cohort"}
        return value

    @property
    def schedule(self) -> TriggerSpec | None:
        """The schedule trigger, when the journey starts at set times (dsl/schedule.py)."""
        return next((trigger for trigger in self.trigger if trigger.schedule is not None), None)

    @model_validator(mode="after")
    def _cohort_with_mode(self) -> JourneyDefinition:
        if self.schedule is not None and self.mode != "cohort":
            raise ValueError("a schedule trigger runs as a cohort: leave `mode` out (or `mode: cohort`)")
        if self.mode == "cohort" and self.cohort is None and self.schedule is None:
            raise ValueError("mode cohort needs a `cohort` block")
        if self.mode != "cohort" and self.cohort is not None:
            raise ValueError("a `cohort` block needs `mode: cohort`")
        return self


def _has_schedule(trigger: Any) -> bool:
    items = trigger if isinstance(trigger, list) else [trigger]
    return any(isinstance(item, dict) and "schedule" in item for item in items)


AnyStep = (
    SendStep
    | WaitStep
    | WaitForStep
    | BranchStep
    | SplitStep
    | ScoreStep
    | UpdateStep
    | DrPerformanceStep
    | EndStep
)


class CompiledJourney(Strict):
    """What a workflow runs: the definition, its pinned version, and every step's resolved successor."""

    journey_id: str
    version: int
    content_hash: str
    definition: JourneyDefinition
    successors: dict[str, str | None] = Field(
        description="Step id → the step after it (None: end), with list order and `next` resolved."
    )

    def step(self, step_id: str) -> AnyStep:
        for step in self.definition.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def first_step(self) -> str:
        return self.definition.steps[0].id
