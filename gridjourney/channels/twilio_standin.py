"""A local stand-in that speaks Twilio's Messages REST API on 127.0.0.1.

Tests and the embedded stack point the official `twilio` client at it. It checks HTTP basic auth,
validates the request as Twilio does (same error codes and JSON error shape), records every message
it accepts and answers with a Twilio-shaped message resource. Twilio's magic test numbers behave as
with Twilio's test credentials (+15005550001 is invalid, +15005550009 cannot receive SMS, ...), so a
demo can show failures. Nothing is delivered anywhere.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, unquote_plus

from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gridjourney.channels.standin_server import HotRoute, Reply, ServedApp, json_reply
from gridjourney.config import Settings
from gridjourney.content.sms import sms_segments

API_VERSION = "2010-04-01"
# E.164: 7 to 15 digits in practice; North American numbers (+1) have exactly 11.
E164 = re.compile(r"^\+(1\d{10}|[2-9]\d{6,14})$")
# Twilio's magic "To" numbers for test credentials: https://www.twilio.com/docs/iam/test-credentials
MAGIC_TO_ERRORS: dict[str, tuple[int, str]] = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number: {to}, is not currently reachable"),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region of {to}."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number {to} is not a valid mobile number"),
}
MAX_BODY_CHARS = 1600


def form_fields(text: str) -> dict[str, str]:
    """An x-www-form-urlencoded body's fields, the first value of each: what
    `{k: v[0] for k, v in parse_qs(text).items()}` gives (blank values left out), with fields that
    have no escapes taken as they are instead of through two unquote calls each."""
    fields: dict[str, str] = {}
    for field in text.split("&"):
        name, equals, value = field.partition("=")
        if not equals or not value:
            continue
        if "%" in field or "+" in field:
            name, value = unquote_plus(name), unquote_plus(value)
        fields.setdefault(name, value)
    return fields


@functools.lru_cache(maxsize=16)  # whole seconds: the messages of one second share their dates
def _http_date(moment: datetime) -> str:
    return format_datetime(moment)


class ReceivedMessage(BaseModel):
    sid: str
    account_sid: str
    to: str
    from_: str = Field(alias="from")
    body: str
    status: str
    num_segments: int
    status_callback: str | None
    date_created: datetime
    date_sent: datetime | None = None
    # Not Twilio's (its times are whole seconds): when the stand-in took the message, for rate checks.
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    model_config = {"populate_by_name": True}

    def resource(self) -> dict[str, Any]:
        """The message as Twilio's API returns it."""
        created = _http_date(self.date_created)
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": created,
            "date_sent": None if self.date_sent is None else _http_date(self.date_sent),
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": self.to,
            "uri": f"{base}.json",
        }


def parse_date_filter(value: str) -> date | datetime:
    """A DateSent filter value: a GMT day, or a moment (twilio-python sends `2026-11-29T21:00:00Z`)."""
    text = value.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def list_filter(
    to: str | None, from_: str | None, params: Mapping[str, str]
) -> Callable[[ReceivedMessage], bool]:
    """Raises ValueError for a date filter that is neither a day nor a moment."""
    bounds = [
        (name, parse_date_filter(params[name]))
        for name in ("DateSent", "DateSent>", "DateSent<")
        if params.get(name)
    ]

    def within(sent: datetime, name: str, bound: date | datetime) -> bool:
        if name == "DateSent":  # a day, as Twilio documents it, even when written as a moment
            day = bound.date() if isinstance(bound, datetime) else bound
            return sent.date() == day
        value: date | datetime = sent if isinstance(bound, datetime) else sent.date()
        return value >= bound if name == "DateSent>" else value <= bound

    def matches(message: ReceivedMessage) -> bool:
        return (
            (to is None or message.to == to)
            and (from_ is None or message.from_ == from_)
            and (
                not bounds
                or (
                    message.date_sent is not None
                    and all(within(message.date_sent, name, bound) for name, bound in bounds)
                )
            )
        )

    return matches


# An error as (HTTP status, Twilio's error code, message).
TwilioError = tuple[int, int, str]


def twilio_error_reply(status: int, code: int, message: str) -> Reply:
    """Twilio's error body, which twilio-python turns into TwilioRestException(status, code)."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    body = {"code": code, "message": message, "more_info": more_info, "status": status}
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
    return json_reply(body, status, headers)


def twilio_error(status: int, code: int, message: str) -> Response:
    reply = twilio_error_reply(status, code, message)
    return Response(reply.body, status_code=reply.status, headers=dict(reply.headers or {}))


class TwilioStandIn:
    """Serve with `async with TwilioStandIn(...) as standin:` or `await start()` / `await stop()`.

    `port=0` picks a free port; `base_url` tells the client where to go once started.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, account_sid: str, auth_token: str) -> None:
        self.host = host
        self.port = port
        self.account_sid = account_sid
        self.auth_token = auth_token
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._expected_authorization = f"Basic {credentials}".encode()
        self.received: list[ReceivedMessage] = []
        self.response_delay_seconds = 0.0  # a slow provider, for timeout tests
        # A provider with a queue: the request is taken this long after it arrived, so a client that
        # gave up meanwhile leaves a message that is accepted after its timeout.
        self.accept_delay_seconds = 0.0
        self._failures: list[tuple[int, int, str]] = []
        self.lookups_unavailable = False  # Messages list answers 503 (a provider that cannot look up)
        # Sent the moment it is accepted (DateSent set); False: left queued, DateSent null, as Twilio
        # leaves a message waiting in a busy sender's queue.
        self.sends_at_once = True
        self.in_flight = 0  # message creations being answered now, and the most there ever were
        self.max_in_flight = 0
        messages = f"/{API_VERSION}/Accounts/{{account}}/Messages"
        lookups = Starlette(
            routes=[
                Route(f"{messages}.json", self._list, methods=["GET"]),
                Route(f"{messages}/{{sid}}.json", self._fetch, methods=["GET"]),
            ]
        )
        creations = f"/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\\.json"
        # The ASGI app served: a test or a benchmark may wrap it before start().
        self.app: ASGIApp = HotRoute(lookups, "POST", creations, self._create_counted)
        self._served = ServedApp(
            self._serve, what="the Twilio SMS stand-in", setting="GRIDJOURNEY_SMS_STANDIN_PORT"
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, status: int, code: int, message: str = "Service unavailable", count: int = 1) -> None:
        """Answer the next `count` message creations with this error (provider outages in tests)."""
        self._failures.extend([(status, code, message)] * count)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # --- HTTP handlers ---------------------------------------------------------------------------
    def _auth_error(self, header: str, account: str, path: str) -> TwilioError | None:
        # The header as clients write it (latin-1: how the server decoded it, so any byte compares).
        if not secrets.compare_digest(header.encode("latin-1"), self._expected_authorization):
            scheme, _, encoded = header.partition(" ")
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except ValueError:  # binascii.Error, UnicodeDecodeError, or a header that is not ASCII
                user, password = "", ""
            valid = scheme.lower() == "basic" and secrets.compare_digest(
                f"{user}:{password}", f"{self.account_sid}:{self.auth_token}"
            )
            if not valid:
                return (401, 20003, "Authenticate")
        if account != self.account_sid:
            return (404, 20404, f"The requested resource {path} was not found")
        return None

    def _check_auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        error = self._auth_error(header, request.path_params["account"], request.url.path)
        return None if error is None else twilio_error(*error)

    async def _create_counted(self, headers: dict[str, str], path: re.Match[str], body: bytes) -> Reply:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._create(headers, path, body)
        finally:
            self.in_flight -= 1

    async def _create(self, headers: dict[str, str], path: re.Match[str], raw: bytes) -> Reply:
        denied = self._auth_error(headers.get("authorization", ""), path["account"], path[0])
        if denied is not None:
            return twilio_error_reply(*denied)
        # Twilio's API takes form-encoded bodies only; parsed here without python-multipart.
        form = form_fields(raw.decode())
        if self.accept_delay_seconds:
            await asyncio.sleep(self.accept_delay_seconds)
        to, from_, body = (form.get(name, "") for name in ("To", "From", "Body"))
        callback = form.get("StatusCallback")
        if not to:
            return twilio_error_reply(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return twilio_error_reply(400, 21603, "A 'From' phone number is required.")
        if not body:
            return twilio_error_reply(400, 21602, "Message body is required.")
        if not E164.match(to):
            return twilio_error_reply(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in MAGIC_TO_ERRORS:
            code, text = MAGIC_TO_ERRORS[to]
            return twilio_error_reply(400, code, text.format(to=to))
        if len(body) > MAX_BODY_CHARS:
            return twilio_error_reply(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if self._failures:
            status, code, text = self._failures.pop(0)
            return twilio_error_reply(status, code, text)
        now = datetime.now(UTC).replace(microsecond=0)
        message = ReceivedMessage(
            sid="SM" + secrets.token_hex(16),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status="queued",
            num_segments=sms_segments(body)[1],
            status_callback=callback,
            date_created=now,
            date_sent=now if self.sends_at_once else None,
        )
        self.received.append(message)
        if self.response_delay_seconds:
            # After recording: a client that gives up now leaves a message that was in fact accepted.
            await asyncio.sleep(self.response_delay_seconds)
        return json_reply(message.resource(), 201)

    async def _fetch(self, request: Request) -> Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        for message in self.received:
            if message.sid == request.path_params["sid"]:
                return JSONResponse(message.resource())
        return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")

    async def _list(self, request: Request) -> Response:
        """Twilio's Messages list: filters To, From, DateSent, DateSent> and DateSent< (a day
        `YYYY-MM-DD` or an ISO 8601 moment, inclusive), newest first, paged by PageSize and Page."""
        if (denied := self._check_auth(request)) is not None:
            return denied
        if self.lookups_unavailable:
            return twilio_error(503, 20503, "Service Unavailable")
        params = request.query_params
        try:
            matches = list_filter(params.get("To"), params.get("From"), params)
            page_size = min(int(params.get("PageSize", "50")), 1000)
            page = int(params.get("Page", "0"))
        except ValueError as error:
            return twilio_error(400, 20001, str(error))
        if page_size < 1 or page < 0:
            return twilio_error(400, 20001, "PageSize and Page must be positive")
        found = [m.resource() for m in reversed(self.received) if matches(m)]
        chunk = found[page * page_size : (page + 1) * page_size]
        path = request.url.path
        query = "&".join(f"{k}={quote(v)}" for k, v in params.items() if k not in ("Page", "PageSize"))

        def page_uri(number: int) -> str:
            return f"{path}?{query}&PageSize={page_size}&Page={number}".replace("?&", "?")

        more = (page + 1) * page_size < len(found)
        return JSONResponse(
            {
                "messages": chunk,
                "end": page * page_size + max(len(chunk) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if more else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": page * page_size,
                "uri": page_uri(page),
            }
        )

    # --- serving -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.port = await self._served.start(self.host, self.port)

    async def stop(self) -> None:
        await self._served.stop()

    async def __aenter__(self) -> TwilioStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def standin_from_settings(settings: Settings) -> TwilioStandIn:
    """The embedded stack's stand-in: the configured port and the credentials the sender uses."""
    return TwilioStandIn(
        "127.0.0.1",
        settings.sms_standin_port,
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
    )
