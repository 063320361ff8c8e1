"""`/u/{token}`: the unsubscribe link of every email (List-Unsubscribe and the footer). No login: the
token is signed (gridjourney/inbound/unsubscribe.py).

GET shows a page with one button; only the POST it sends (or the one-click POST a mail client makes
from `List-Unsubscribe-Post`, RFC 8058) records anything, so a link scanner that follows every URL
in a message unsubscribes no one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from gridjourney.api.deps import SettingsDep, StoreDep
from gridjourney.api.problems import ApiProblem, FieldError, problem_responses
from gridjourney.inbound.unsubscribe import (
    InvalidUnsubscribeToken,
    Unsubscribe,
    record_unsubscribe,
    unsubscribe_links,
)

router = APIRouter(tags=["unsubscribe"])

Token = Annotated[str, PathParam(max_length=1000, description="The signed token of the link.")]
WHAT = {
    "marketing": "offers and news",
    "informational": "account alerts",
    "safety": "safety notices",
}
CHANNEL_WORDS = {"email": "email", "sms": "text messages", "push": "notifications"}
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family:Helvetica,Arial,sans-serif;max-width:480px;margin:48px auto;padding:0 16px;">
<h1 style="font-size:22px;">{title}</h1>
{content}
</body></html>
"""


def _read(settings: SettingsDep, token: str) -> Unsubscribe:
    try:
        return unsubscribe_links(settings).read(token)
    except InvalidUnsubscribeToken as error:
        raise ApiProblem(
            400,
            "invalid-unsubscribe-link",
            "The unsubscribe link is not valid",
            f"{error}; use the link exactly as it appears in the message",
            [FieldError(field="token", reason=str(error))],
        ) from None


def _subject(request: Unsubscribe) -> str:
    return f"{WHAT[request.purpose]} by {CHANNEL_WORDS[request.channel]}"


@router.get(
    "/u/{token}",
    summary="The unsubscribe page: one button that confirms",
    response_class=HTMLResponse,
    responses=problem_responses(400),
)
async def unsubscribe_page(token: Token, settings: SettingsDep) -> HTMLResponse:
    request = _read(settings, token)
    # No action attribute: the form posts back to this very URL, wherever the API is mounted.
    content = (
        f"<p>Stop receiving {_subject(request)}?</p>"
        '<form method="post"><button type="submit" style="font-size:16px;padding:8px 16px;">'
        "Unsubscribe</button></form>"
    )
    return HTMLResponse(PAGE.format(title="Unsubscribe", content=content))


@router.post(
    "/u/{token}",
    summary="Unsubscribe (one-click, RFC 8058): records consent.changed for the link's purpose and channel",
    description="Idempotent: while the consent stays revoked, a repeated POST records nothing new.",
    response_class=HTMLResponse,
    responses=problem_responses(400, 410),
)
async def unsubscribe(token: Token, settings: SettingsDep, store: StoreDep) -> HTMLResponse:
    request = _read(settings, token)
    await record_unsubscribe(store, request, datetime.now(UTC))
    content = f"<p>You will no longer receive {_subject(request)}.</p>"
    return HTMLResponse(PAGE.format(title="You are unsubscribed", content=content))
