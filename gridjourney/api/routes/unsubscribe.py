"""`/u/{token}`: the unsubscribe link of every email (List-Unsubscribe and the footer). No login: the
token is signed (gridjourney/inbound/unsubscribe.py).

GET shows a page with one button; only the POST it sends (or the one-click POST a mail client makes
from `List-Unsubscribe-Post`, RFC 8058) records anything, so a link scanner that follows every URL
in a message unsubscribes no one. Neither page may be framed (X-Frame-Options, CSP frame-ancestors):
a page of another site could otherwise lay the button under a decoy and have the customer click it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.api.deps import EngineDep, SettingsDep, StoreDep
from gridjourney.api.problems import ApiProblem, FieldError, problem_responses
from gridjourney.inbound.unsubscribe import (
    InvalidUnsubscribeToken,
    Unsubscribe,
    record_unsubscribe,
    unsubscribe_links,
)
from gridjourney.projections.queries import get_customer

router = APIRouter(tags=["unsubscribe"])

Token = Annotated[str, PathParam(max_length=1000, description="The signed token of the link.")]
# The page speaks the customer's language (their locale in the customers projection), else English.
WORDS: dict[str, dict[str, str]] = {
    "en": {
        "marketing": "offers and news",
        "informational": "account alerts",
        "safety": "safety notices",
        "email": "by email",
        "sms": "by text message",
        "push": "as notifications",
        "title": "Unsubscribe",
        "question": "Stop receiving {what}?",
        "button": "Unsubscribe",
        "done_title": "You are unsubscribed",
        "done": "You will no longer receive {what}.",
    },
    "es": {
        "marketing": "ofertas y novedades",
        "informational": "avisos de su cuenta",
        "safety": "avisos de seguridad",
        "email": "por correo",
        "sms": "por mensaje de texto",
        "push": "como notificaciones",
        "title": "Cancelar la suscripción",
        "question": "¿Dejar de recibir {what}?",
        "button": "Cancelar la suscripción",
        "done_title": "Se canceló su suscripción",
        "done": "Ya no recibirá {what}.",
    },
}
PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family:Helvetica,Arial,sans-serif;max-width:480px;margin:48px auto;padding:0 16px;">
<h1 style="font-size:22px;">{title}</h1>
{content}
</body></html>
"""


# The pages load nothing (their only styles are inline), post only back to themselves, and may not be
# framed (clickjacking the one button); the token in the URL is never sent on as a referrer, nor cached.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(language: str, title: str, content: str) -> HTMLResponse:
    return HTMLResponse(PAGE.format(lang=language, title=title, content=content), headers=PAGE_HEADERS)


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


async def _words(engine: AsyncEngine, customer_id: str) -> tuple[str, dict[str, str]]:
    async with engine.connect() as conn:
        customer = await get_customer(conn, customer_id)
    language = (customer.locale if customer is not None else "en").split("-")[0]
    return (language, WORDS[language]) if language in WORDS else ("en", WORDS["en"])


def _what(words: dict[str, str], request: Unsubscribe) -> str:
    return f"{words[request.purpose]} {words[request.channel]}"


@router.get(
    "/u/{token}",
    summary="The unsubscribe page: one button that confirms",
    response_class=HTMLResponse,
    responses=problem_responses(400),
)
async def unsubscribe_page(token: Token, settings: SettingsDep, engine: EngineDep) -> HTMLResponse:
    request = _read(settings, token)
    language, words = await _words(engine, request.customer_id)
    # No action attribute: the form posts back to this very URL, wherever the API is mounted.
    content = (
        f"<p>{words['question'].format(what=_what(words, request))}</p>"
        '<form method="post"><button type="submit" style="font-size:16px;padding:8px 16px;">'
        f"{words['button']}</button></form>"
    )
    return _page(language, words["title"], content)


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
    language, words = await _words(store.engine, request.customer_id)
    content = f"<p>{words['done'].format(what=_what(words, request))}</p>"
    return _page(language, words["done_title"], content)
