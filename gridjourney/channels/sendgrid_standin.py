"""A local stand-in that speaks SendGrid's v3 Mail Send and Email Activity APIs on 127.0.0.1.

Tests and the embedded stack point the official `sendgrid` client at it. It checks the bearer key,
validates the Mail Send body roughly as SendGrid does (same error shape: `errors: [{field, message}]`),
answers 202 with an X-Message-Id header and records what it accepted. `GET /v3/messages?query=...`
answers Email Activity queries by `unique_args['...']`, `to_email`, `msg_id`, `subject`, `status`
and `last_event_time BETWEEN TIMESTAMP ... AND TIMESTAMP ...`. `GET /standin/emails` (not
SendGrid's) shows every accepted email whole, for the demo and for people.

Given a webhook URL, it posts Event Webhook batches as SendGrid does, signed with an ECDSA P-256 key
(gridjourney/inbound/sendgrid_keys.py): `processed` then `delivered`; addresses whose local part is
`bounce`, `blocked`, `dropped` or `spam` get a hard bounce, a block, a drop or a spam report instead,
so a demo can show each. Nothing is delivered anywhere.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gridjourney.channels.sendgrid_standin_checks import SentEmail, mail_problem, parse_activity_query
from gridjourney.channels.standin_server import ServedApp
from gridjourney.config import Settings, public_base_url
from gridjourney.inbound.sendgrid_keys import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    embedded_signing_key,
    sign_payload,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/sendgrid/events"
RECEIVED_PATH = "/standin/emails"
MAX_BODY_BYTES = 30 * 1024 * 1024
WEBHOOK_ATTEMPTS = 8  # SendGrid retries failed posts for a day; a stand-in for a few seconds
# Local parts whose messages end in something other than delivery, for tests and the demo.
OUTCOMES: dict[str, list[dict[str, Any]]] = {
    "bounce": [
        {
            "event": "bounce",
            "type": "bounce",
            "status": "5.1.1",
            "reason": "550 5.1.1 The email account that you tried to reach does not exist",
            "bounce_classification": "Invalid Address",
        },
    ],
    "blocked": [
        {
            "event": "bounce",
            "type": "blocked",
            "status": "5.7.1",
            "reason": "550 5.7.1 Message rejected by the receiving server's policy",
            "bounce_classification": "Reputation",
        },
    ],
    "dropped": [{"event": "dropped", "reason": "Bounced Address"}],
    "spam": [{"event": "delivered", "response": "250 OK"}, {"event": "spamreport"}],
}
DELIVERED: list[dict[str, Any]] = [{"event": "delivered", "response": "250 OK"}]


def substitute(text: str, substitutions: dict[str, str]) -> str:
    """SendGrid's legacy substitutions in a subject or content part: every occurrence of each tag
    replaced by its value, in one pass over the text (a value is not searched for tags again); the
    longest tag wins where two start at the same place."""
    if not substitutions:
        return text
    return _tags_pattern(tuple(substitutions)).sub(lambda found: substitutions[found[0]], text)


@functools.lru_cache(maxsize=256)
def _tags_pattern(tags: tuple[str, ...]) -> re.Pattern[str]:
    """The pattern of a personalization's tags, longest first: a request's personalizations share their
    tags, and escaping and joining them anew for each part of each email was most of the cost."""
    return re.compile("|".join(re.escape(tag) for tag in sorted(tags, key=len, reverse=True)))


def sendgrid_error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "field": field, "help": None}]}, status_code=status)


class SendGridStandIn:
    """Serve with `async with SendGridStandIn(...) as standin:` or `await start()` / `await stop()`.

    `port=0` picks a free port. With `webhook_url` and `signing_key`, each accepted message's events
    are posted there, signed; `await webhooks_done()` waits for the posts under way.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str,
        webhook_url: str | None = None,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if webhook_url is not None and signing_key is None:
            raise ValueError("a webhook URL needs a signing key: SendGrid signs every post")
        self.host = host
        self.port = port
        self.api_key = api_key
        self.webhook_url = webhook_url
        self.signing_key = signing_key
        self.webhook_transport = webhook_transport  # tests: the API app in-process (httpx.ASGITransport)
        self.received: list[SentEmail] = []
        self.requests: list[int] = []  # personalizations per accepted Mail Send request, in order
        self.posted: list[tuple[int, list[dict[str, Any]]]] = []  # (answer status, batch)
        self.response_delay_seconds = 0.0  # a slow provider, for timeout tests
        self._failures: list[tuple[int, str]] = []
        self._posts: set[asyncio.Task[None]] = set()
        # The ASGI app served: a test or a benchmark may wrap it before start(). (Starlette's routing
        # costs little here: a Mail Send request carries up to 1,000 emails.)
        self.app: ASGIApp = Starlette(
            routes=[
                Route("/v3/mail/send", self._send, methods=["POST"]),
                Route("/v3/messages", self._activity, methods=["GET"]),
                Route(RECEIVED_PATH, self._received, methods=["GET"]),
            ]
        )
        self._served = ServedApp(
            self._serve, what="the SendGrid email stand-in", setting="GRIDJOURNEY_EMAIL_STANDIN_PORT"
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, status: int, message: str = "Service unavailable", count: int = 1) -> None:
        """Answer the next `count` Mail Send requests with this error (provider outages in tests)."""
        self._failures.extend([(status, message)] * count)

    async def webhooks_done(self) -> None:
        while self._posts:
            await asyncio.gather(*self._posts, return_exceptions=True)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # --- HTTP handlers ---------------------------------------------------------------------------
    def _denied(self, request: Request) -> JSONResponse | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(key.encode(), self.api_key.encode()):
            return None
        return sendgrid_error(401, "The provided authorization grant is invalid, expired, or revoked")

    async def _send(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return sendgrid_error(413, "The JSON payload you have included in your request is too large.")
        try:
            body = json.loads(raw)
        except ValueError:
            return sendgrid_error(400, "Bad Request")
        if not isinstance(body, dict):
            return sendgrid_error(400, "Bad Request")
        if (problem := mail_problem(body)) is not None:
            return sendgrid_error(400, *problem)
        if self._failures:
            status, text = self._failures.pop(0)
            return sendgrid_error(status, text)
        message_id = secrets.token_urlsafe(16)[:22]
        self.requests.append(len(body["personalizations"]))
        accepted = self._record(body, message_id)
        if self.webhook_url is not None:
            task = asyncio.create_task(self._post_events(accepted), name="sendgrid-standin-webhook")
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)
        if self.response_delay_seconds:
            # After recording: a client that gives up now leaves a message that was in fact accepted.
            await asyncio.sleep(self.response_delay_seconds)
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    def _record(self, body: dict[str, Any], message_id: str) -> list[SentEmail]:
        parts = {part["type"]: part["value"] for part in body["content"]}
        sender = body["from"]
        accepted = []
        for index, personalization in enumerate(body["personalizations"]):
            substitutions: dict[str, str] = personalization.get("substitutions") or {}

            def substituted(text: str | None, substitutions: dict[str, str] = substitutions) -> str | None:
                return None if text is None else substitute(text, substitutions)

            for copy, recipient in enumerate(personalization["to"]):
                to = str(recipient["email"])
                local = to.split("@")[0].lower()
                outcome = OUTCOMES.get(local, DELIVERED)
                email = SentEmail(
                    message_id=message_id,
                    msg_id=f"{message_id}.standin-{index}-{copy}-{secrets.token_hex(4)}.0",
                    to=to,
                    from_email=sender["email"],
                    from_name=sender.get("name"),
                    subject=substituted(personalization.get("subject") or body.get("subject")) or "",
                    text=substituted(parts.get("text/plain")),
                    html=substituted(parts.get("text/html")),
                    headers={**(body.get("headers") or {}), **(personalization.get("headers") or {})},
                    custom_args={
                        **(body.get("custom_args") or {}),
                        **(personalization.get("custom_args") or {}),
                    },
                    received_at=datetime.now(UTC).replace(microsecond=0),
                    events=["processed", *(row["event"] for row in outcome)],
                )
                self.received.append(email)
                accepted.append(email)
        return accepted

    async def _received(self, request: Request) -> JSONResponse:
        """Not SendGrid's: every accepted email whole (parts, headers, custom_args), newest first, for
        the demo and for people to read what a customer would have received. `?to=` filters."""
        if (denied := self._denied(request)) is not None:
            return denied
        to = request.query_params.get("to")
        found = [email for email in reversed(self.received) if to is None or email.to == to]
        return JSONResponse(
            {"emails": [email.model_dump(mode="json") | {"status": email.status} for email in found]}
        )

    async def _activity(self, request: Request) -> JSONResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        try:
            limit = int(request.query_params.get("limit", "10"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return sendgrid_error(400, "limit must be between 1 and 1000", "limit")
        try:
            matches = parse_activity_query(request.query_params.get("query", ""))
        except ValueError as error:
            return sendgrid_error(400, str(error), "query")
        found = [email.activity() for email in reversed(self.received) if all(m(email) for m in matches)]
        return JSONResponse({"messages": found[:limit]})

    # --- the Event Webhook -----------------------------------------------------------------------
    def event_rows(self, email: SentEmail) -> list[dict[str, Any]]:
        """The Event Webhook rows for one accepted message, custom_args beside SendGrid's fields."""
        local = email.to.split("@")[0].lower()
        timestamp = int(datetime.now(UTC).timestamp())
        rows = []
        for extra in [{"event": "processed"}, *OUTCOMES.get(local, DELIVERED)]:
            rows.append(
                {
                    **email.custom_args,
                    "email": email.to,
                    "timestamp": timestamp,
                    "smtp-id": f"<{email.message_id}@standin.sendgrid.local>",
                    "sg_event_id": secrets.token_urlsafe(16),
                    "sg_message_id": email.msg_id,
                    "category": [],
                    **extra,
                }
            )
        return rows

    async def _post_events(self, emails: list[SentEmail]) -> None:
        batch = [row for email in emails for row in self.event_rows(email)]
        payload = json.dumps(batch).encode()
        assert self.webhook_url is not None and self.signing_key is not None
        delay = 0.2
        async with httpx.AsyncClient(timeout=10.0, transport=self.webhook_transport) as client:
            for _ in range(WEBHOOK_ATTEMPTS):
                # Signed afresh on each attempt, with the time of the attempt, as SendGrid does.
                timestamp = str(int(datetime.now(UTC).timestamp()))
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign_payload(self.signing_key, timestamp, payload),
                    TIMESTAMP_HEADER: timestamp,
                }
                try:
                    answer = await client.post(self.webhook_url, content=payload, headers=headers)
                except httpx.HTTPError as error:
                    log.info("SendGrid stand-in: webhook post failed (%s); retrying", type(error).__name__)
                else:
                    self.posted.append((answer.status_code, batch))
                    if answer.status_code < 500:
                        return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # --- serving -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.port = await self._served.start(self.host, self.port)

    async def stop(self) -> None:
        for task in list(self._posts):
            task.cancel()
        await asyncio.gather(*self._posts, return_exceptions=True)
        await self._served.stop()

    async def __aenter__(self) -> SendGridStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def standin_from_settings(settings: Settings) -> SendGridStandIn:
    """The embedded stack's stand-in: the configured port and key; it posts signed events to the API."""
    return SendGridStandIn(
        "127.0.0.1",
        settings.email_standin_port,
        api_key=settings.sendgrid_api_key.get_secret_value(),
        webhook_url=f"{public_base_url(settings)}{WEBHOOK_PATH}",
        signing_key=embedded_signing_key(settings.home),
    )
