"""Who may touch a safety journey: only an `admin` key.

`purpose: safety` messages go out without the customer's consent (activities/eligibility.py), and
they are how customers learn of an outage and its restoration. So publishing one, changing one
(a new version, a safety journey turned into another purpose included), starting one by hand,
cancelling its runs, retiring or reinstating it all need `admin`; one rule for every door.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.auth import Principal
from gridjourney.api.problems import ApiProblem, FieldError
from gridjourney.dsl import registry

SAFETY = "safety"


def require_admin_for_safety(
    principal: Principal, purpose: str, doing: str, journey_id: str | None = None
) -> None:
    """403 unless `principal` is admin, when the journey (or run) `doing` touches is a safety one."""
    if purpose != SAFETY or principal.allows("admin"):
        return
    why = (
        f"{journey_id} has `purpose: safety`, so {doing} it"
        if journey_id
        else f"`purpose: safety` journeys are sent without the customer's consent, so {doing} one"
    )
    raise ApiProblem(
        403,
        "forbidden",
        f"{doing.capitalize()} a safety journey needs the admin scope",
        f"{why} needs the scope 'admin'; the key {principal.key_id} has {', '.join(principal.scopes)}",
        [FieldError(field="purpose", reason="`safety` needs the admin scope")],
    )


async def require_admin_if_ever_safety(
    engine: AsyncEngine, principal: Principal, journey_id: str, doing: str
) -> None:
    """The same rule for a journey as a whole: if any stored version of it is a safety one (a later
    version of another purpose must not let a lesser key stop the outage notices)."""
    if principal.allows("admin"):
        return
    if any(version.purpose == SAFETY for version in await registry.list_versions(engine, journey_id)):
        require_admin_for_safety(principal, SAFETY, doing, journey_id)
