"""The JSON Schema of journey files as they are written (`gridjourney journeys schema`, for editors)."""

from __future__ import annotations

from typing import Any

from gridjourney.dsl.schema import JourneyDefinition, WaitSpec


def journey_json_schema() -> dict[str, Any]:
    """The JSON Schema of journey files as they are written (`gridjourney journeys schema`).

    The models' own schema describes the validated form; files may also use the shorthands the
    models accept before validation, so the schema allows them too: `trigger` as one mapping,
    `wait: 3d` and `score: dr_propensity`.
    """
    document = JourneyDefinition.model_json_schema()
    defs = document["$defs"]
    trigger = document["properties"]["trigger"]
    document["properties"]["trigger"] = {
        "title": trigger.pop("title", "Trigger"),
        "description": "One trigger, or a list: any of them starts the journey.",
        "anyOf": [{"$ref": "#/$defs/TriggerSpec"}, trigger],
    }
    duration = WaitSpec.model_json_schema()["properties"]["duration"]["anyOf"][0]
    defs["WaitStep"]["properties"]["wait"] = {
        "description": "A duration (`wait: 3d`), or a mapping.",
        "anyOf": [duration, {"type": "integer", "minimum": 0}, {"$ref": "#/$defs/WaitSpec"}],
    }
    score = defs["ScoreStep"]["properties"]["score"]
    defs["ScoreStep"]["properties"]["score"] = {
        "description": score.get("description", ""),
        "anyOf": [{"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"}, {"$ref": "#/$defs/ScoreSpec"}],
    }
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "gridjourney journey"
    return document
