"""What `POST /v1/journeys/{id}/instances` (a manual start) accepts: a per-customer journey, and a
payload its trigger event type admits.

The journey's conditions and templates were checked, when it was published, against its trigger
event type's payload (dsl/compiler.py); the run's `event` is the manual trigger's payload. So the
payload is validated as that type's, the same way `POST /v1/events` validates an event's (the same
model, field limits and door checks), and stored as validated (defaults filled): a template reading
`event.days` finds the list a real `meter.anomaly_detected` would carry, a missing
`projected_amount` is a 422 naming it, and a 900 KB string is refused before it reaches Temporal.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.deps import admission_context
from gridjourney.api.problems import ApiProblem, FieldError, invalid, pydantic_errors
from gridjourney.config import Settings
from gridjourney.dsl import registry
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.events.types import validate_payload


def require_per_customer(journey: CompiledJourney) -> None:
    """409 for a journey that has no per-customer runs to start: a scheduled or cohort journey.

    409, not 422: the request is well formed; it is the journey, as published, that does not run
    per customer (a per-customer version of it could be started)."""
    definition = journey.definition
    if definition.mode == "per_customer":
        return
    schedule = definition.schedule
    if schedule is not None:
        how = (
            f"{journey.journey_id} is a scheduled journey: each fire of its schedule is one cohort run over "
            f"its audience ({schedule.audience}), never a run for one customer. To run it now, trigger "
            "its Temporal Schedule: `temporal schedule trigger --schedule-id "
            f"journey-schedule:<task queue>:{journey.journey_id}`"
        )
    else:
        types = " or ".join(f"`{trigger.event}`" for trigger in definition.trigger)
        how = (
            f"{journey.journey_id} is a cohort journey (`mode: cohort`): one run per {types} event for "
            "its whole audience, never a run for one customer. To start a run, post that event to "
            "POST /v1/events; the run is read and cancelled at "
            f"/v1/instances/cohort:{journey.journey_id}:<key>"
        )
    raise ApiProblem(409, "not-per-customer", "The journey does not run per customer", how)


async def require_active(engine: AsyncEngine, journey_id: str) -> None:
    """409 for a retired journey: it starts no new runs, by hand or otherwise, until reinstated."""
    retired = await registry.retirement(engine, journey_id)
    if retired is None:
        return
    raise ApiProblem(
        409,
        "journey-retired",
        "The journey is retired",
        f"{journey_id} is retired (since {retired.retired_at.isoformat()}, by {retired.retired_by}): it "
        f"starts no new runs. Reinstate it first: POST /v1/journeys/{journey_id}/reinstate or "
        f"`gridjourney journeys reinstate {journey_id}`",
        extensions={"state": "retired"},
    )


def trigger_payload(journey: CompiledJourney, payload: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`payload` as the journey's trigger event type stores it; of several triggers, the first type
    that admits it (the steps read only the fields they all have). 422 naming each field at fault."""
    context = admission_context(settings)
    types = [trigger.event for trigger in journey.definition.trigger]
    errors: list[FieldError] = []
    for event_type in types:
        try:
            return validate_payload(event_type, payload, context)
        except ValidationError as exc:
            found = pydantic_errors(exc.errors(), ["payload"])  # type: ignore[arg-type]
            if len(types) > 1:
                found = [
                    error.model_copy(update={"reason": f"as {event_type}: {error.reason}"}) for error in found
                ]
            errors += found
    admits = " or ".join(types)
    raise invalid(
        f"the payload is the run's `event`, which the journey's conditions and templates read: it must be "
        f"a payload of {admits}, as POST /v1/events takes it",
        errors,
    )
