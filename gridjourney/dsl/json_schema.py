"""The JSON Schema of journey files as they are written (`gridjourney journeys schema`, for editors).

Editors (VS Code's YAML extension, JetBrains) validate and complete a journey against it, so it
follows the files as people write them: the shorthands the models accept before validation are
allowed, every property carries a description and an example, and the names a journey may use are
listed as enumerations: the event types (built-in and declared in events/*.yaml), purposes, re-entry
rules, channels, score models and the filters templates may use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gridjourney.content.filters import FILTERS
from gridjourney.dsl.schedule import CLOCK_PATTERN, MONTHS, WEEKDAYS
from gridjourney.dsl.schema import SCORE_MODELS, JourneyDefinition, WaitSpec

# One example per property, by the schema definition ("Journey": the file itself) and property name.
EXAMPLES: dict[str, dict[str, Any]] = {
    "Journey": {
        "id": "high_bill_alert",
        "name": "High-bill alert",
        "description": "Tells a customer their bill is heading well above normal.",
        "mode": "per_customer",
        "cohort": {"key": "event.dr_event_id", "audience": {"program": "event.program"}},
        "purpose": "informational",
        "trigger": {"event": "bill.projection_updated", "when": "event.days_left >= 7"},
        "entry": {"reentry": "once_per_window", "window": "30d", "holdout": 0.05},
        "exit_on": ["bill.issued", {"event": "usage.reduced", "when": "event.kwh_saved >= 50"}],
        "goal": {"event": "usage.reduced", "within": "14d"},
        "steps": [{"id": "alert", "send": {"channels": ["sms", "email"], "template": "high_bill_alert"}}],
    },
    "AudienceSpec": {
        "program": "event.program",
        "grid": True,
        "where": "customer.segment == 'evening_peak'",
        "target": {"kw": "event.target_kw"},
        "holdout": 0.1,
    },
    "BranchCase": {"when": "customer.scores.dr_propensity > 0.6", "goto": "offer_dr"},
    "CohortSpec": {
        "key": "event.dr_event_id",
        "audience": {"program": "event.program"},
        "updates": ["dr.event_modified"],
        "on_update": [
            {
                "event": "dr.event_cancelled",
                "send": {"channels": ["sms"], "template": "dr_event_cancelled"},
                "at_steps": ["until_the_end"],
            }
        ],
    },
    "DrPerformanceSpec": {"credit_per_kwh": 0.5, "wait_for_reads": "3d"},
    "EntrySpec": {"reentry": "once_per_window", "window": "30d", "holdout": 0.05},
    "GoalSpec": {"event": "usage.reduced", "when": "event.kwh_saved > 0", "within": "14d"},
    "MovedBy": {"field": "etr", "more_than": "30m"},
    "ScoreSpec": {"model": "dr_propensity", "version": 3, "max_age": "7d"},
    "SendSpec": {"channels": ["sms", "email"], "template": "high_bill_alert", "sending_hours": "09:00-18:00"},
    "SplitArm": {
        "weight": 50,
        "goto": "remind",
        "label": "reminder",
        "vars": {"subject": "Save on your bill"},
    },
    "ExitOnSpec": {"event": "usage.reduced", "when": "event.kwh_saved >= 50"},
    "TargetSpec": {"kw": "event.target_kw", "rank_by": "expected_reduction"},
    "TriggerSpec": {
        "event": "bill.projection_updated",
        "when": "event.days_left >= 7",
        "schedule": {"month": "november", "day": 1, "at": "10:00"},
        "audience": "customer.heating == 'electric'",
    },
    "ScheduleSpec": {
        "cron": "0 10 1 11 *",
        "at": "10:00",
        "month": "november",
        "day": 1,
        "weekday": "monday",
        "zone": "America/New_York",
    },
    "UpdateNotice": {
        "event": "outage.etr_updated",
        "send": {"channels": ["sms"], "template": "outage_etr_updated"},
        "at_steps": ["await_restoration"],
        "moved_by": {"field": "etr", "more_than": "30m"},
        "changed": ["start", "end"],
        "at_most_every": "1h",
    },
    "UpdateSpec": {"attribute": "alerts_signed_up", "value": True, "expression": "event.amount * 2"},
    "WaitForSpec": {
        "event": "consent.changed",
        "when": "event.granted",
        "timeout": "7d",
        "on_event": "confirm",
        "on_timeout": "reminder",
    },
    "WaitSpec": {
        "duration": "3d",
        "until_local_time": "10:00",
        "until": "event.start",
        "before": "1h",
        "after": "event.due_date",
    },
}
# Every step has an id and may name the next step.
STEP_EXAMPLES: dict[str, dict[str, Any]] = {
    "SendStep": {"send": EXAMPLES["SendSpec"]},
    "WaitStep": {"wait": "3d"},
    "WaitForStep": {"wait_for": EXAMPLES["WaitForSpec"]},
    "BranchStep": {"branch": [EXAMPLES["BranchCase"], {"goto": "tips"}]},
    "SplitStep": {
        "split": [
            EXAMPLES["SplitArm"],
            {"weight": 50, "goto": "remind", "label": "lower", "vars": {"subject": "Your bill, lower"}},
        ]
    },
    "ScoreStep": {"score": "dr_propensity"},
    "UpdateStep": {"update": {"attribute": "alerts_signed_up", "value": True}},
    "DrPerformanceStep": {"dr_performance": EXAMPLES["DrPerformanceSpec"]},
    "EndStep": {"end": True},
}
for _step, _example in STEP_EXAMPLES.items():
    EXAMPLES[_step] = {"id": "alert", "next": "pause", **_example}

# Properties that name an event type: (definition, property, whether it holds a list of them).
EVENT_TYPE_PROPERTIES = (
    ("TriggerSpec", "event", False),
    ("GoalSpec", "event", False),
    ("WaitForSpec", "event", False),
    ("UpdateNotice", "event", False),
    ("ExitOnSpec", "event", False),
    ("CohortSpec", "updates", True),
)


def journey_json_schema(event_types: Iterable[str] | None = None) -> dict[str, Any]:
    """The JSON Schema of journey files as they are written (`gridjourney journeys schema`).

    `event_types`: the types journeys may name (default: those the router hands to journeys, built-in
    and declared in events/*.yaml).
    """
    document = JourneyDefinition.model_json_schema()
    defs = document["$defs"]
    _allow_shorthands(document, defs)
    types = sorted(_routed_event_types() if event_types is None else event_types)
    defs["EventType"] = {
        "type": "string",
        "enum": types,
        "description": "An event type journeys can react to: built-in, or declared in events/*.yaml.",
    }
    _name_event_types(document, defs)
    for option in defs["SplitArm"]["properties"]["vars"]["anyOf"]:
        if "patternProperties" in option:  # pydantic lists the allowed names: refuse the others too
            option["additionalProperties"] = False
    document["properties"]["exit_on"]["items"] = {
        "anyOf": [{"$ref": "#/$defs/EventType"}, {"$ref": "#/$defs/ExitOnSpec"}]
    }
    defs["TemplateFilter"] = {
        "type": "string",
        "enum": sorted(FILTERS),
        "description": "Filters templates may use, e.g. `{{ event.start | local_datetime }}`, "
        "`{{ event.amount | money(event.currency) }}`.",
    }
    defs["ScoreSpec"]["properties"]["model"]["enum"] = sorted(SCORE_MODELS)
    _schedule_trigger(defs)
    _add_examples(document, defs)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "gridjourney journey"
    return document


def _routed_event_types() -> list[str]:
    from gridjourney.dsl.vocabulary import routed_event_types  # reads events/*.yaml

    return routed_event_types()


def _allow_shorthands(document: dict[str, Any], defs: dict[str, Any]) -> None:
    """`trigger` as one mapping or one event type (also as list items), `wait: 3d` and
    `score: dr_propensity`, as the models accept them."""
    trigger = document["properties"]["trigger"]
    one = {"anyOf": [{"$ref": "#/$defs/EventType"}, {"$ref": "#/$defs/TriggerSpec"}]}
    document["properties"]["trigger"] = {
        "title": trigger.pop("title", "Trigger"),
        "description": trigger["description"],
        "anyOf": [*one["anyOf"], {**trigger, "items": one}],
    }
    duration = WaitSpec.model_json_schema()["properties"]["duration"]["anyOf"][0]
    defs["WaitStep"]["properties"]["wait"] = {
        "description": defs["WaitStep"]["properties"]["wait"]["description"],
        "anyOf": [duration, {"type": "integer", "minimum": 0}, {"$ref": "#/$defs/WaitSpec"}],
    }
    score = defs["ScoreStep"]["properties"]["score"]
    defs["ScoreStep"]["properties"]["score"] = {
        "description": score.get("description", ""),
        "anyOf": [{"type": "string", "enum": sorted(SCORE_MODELS)}, {"$ref": "#/$defs/ScoreSpec"}],
    }


def _name_event_types(document: dict[str, Any], defs: dict[str, Any]) -> None:
    for definition, name, is_list in EVENT_TYPE_PROPERTIES:
        holder = document if definition == "Journey" else defs[definition]
        prop = holder["properties"][name]
        if is_list:
            prop["items"] = {"$ref": "#/$defs/EventType"}
        else:
            prop.pop("type", None)
            prop["$ref"] = "#/$defs/EventType"


def _add_examples(document: dict[str, Any], defs: dict[str, Any]) -> None:
    for definition, examples in EXAMPLES.items():
        holder = document if definition == "Journey" else defs[definition]
        for name, prop in holder["properties"].items():
            prop["examples"] = [examples[name]]


def _schedule_trigger(defs: dict[str, Any]) -> None:
    """A trigger names an `event`, or is a `schedule` with its `audience` (the model fills in the
    fire's event type); the calendar keys take one value or a list, months and weekdays by name."""
    trigger = defs["TriggerSpec"]
    trigger["required"] = [name for name in trigger.get("required", []) if name != "event"]
    trigger["anyOf"] = [{"required": ["event"]}, {"required": ["schedule", "audience"]}]
    properties = defs["ScheduleSpec"]["properties"]
    properties["at"]["anyOf"][0]["pattern"] = CLOCK_PATTERN
    named = {"month": (MONTHS, 1, 12), "weekday": (WEEKDAYS, 0, 6), "day": ((), 1, 31)}
    for key, (names, low, high) in named.items():
        one: list[dict[str, Any]] = [{"type": "integer", "minimum": low, "maximum": high}]
        if names:
            one.append({"type": "string", "enum": list(dict.fromkeys([*names, *(n[:3] for n in names)]))})
        properties[key] = {
            "description": properties[key]["description"],
            "anyOf": [*one, {"type": "array", "items": {"anyOf": one}, "minItems": 1}, {"type": "null"}],
        }
