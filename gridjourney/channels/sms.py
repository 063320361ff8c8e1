"""SMS through the official Twilio client, pointed at a configurable base URL.

The client's async HTTP client (aiohttp, installed with `twilio`) keeps the activity worker's event
loop free during the provider call. The base URL replaces `https://api.twilio.com` on the client's
`api` domain, which is how tests and the embedded stack reach the local stand-in.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import urlencode

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance

from gridjourney.channels.base import (
    LookupUnavailable,
    OutgoingMessage,
    PermanentSendError,
    ProviderReceipt,
    SendError,
    TransientSendError,
)
from gridjourney.channels.provider_http import NO_SESSION_TIMEOUT, provider_session

TWILIO_API_URL = "https://api.twilio.com"

# Twilio error codes that are about the recipient's number itself: it will never work, so the
# number becomes a suppression (https://www.twilio.com/docs/api/errors).
INVALID_RECIPIENT_CODES = frozenset({21211, 21217, 21401, 21407, 21408, 21610, 21612, 21614})
# Statuses where Twilio certainly did not create the message: retrying cannot duplicate it.
NOT_ACCEPTED_STATUSES = frozenset({401, 403, 429, 503})
# Look-ups: our clock and Twilio's may disagree a little; a send fans out to one number rarely.
LOOKUP_CLOCK_SKEW = timedelta(minutes=5)
LOOKUP_LIMIT = 200
# The client's HTTP layer logs each request and answer at INFO, about ten lines per SMS (method, URL,
# headers): in a send worker logging at INFO that was a log record per line and most of a line of
# JSON per SMS. Kept to its warnings; set this logger's level to INFO to trace the calls again.
TWILIO_HTTP_LOG = logging.getLogger(f"{__name__}.twilio_http")
TWILIO_HTTP_LOG.setLevel(logging.WARNING)
# What urlencode's quote_plus leaves as it is (and the space, which becomes "+"); every other byte
# of the UTF-8 text is %XX.
_FORM_UNSAFE = re.compile(rb"[^A-Za-z0-9_.\-~ ]")
_FORM_ESCAPES = {byte: b"%%%02X" % byte for byte in range(256)}


def form_body(data: Mapping[str, object]) -> bytes:
    """`urlencode(data, doseq=True).encode()`, byte for byte, with text fields escaped by one regex
    pass over their UTF-8 instead of a quoter call per character (most of an SMS's encoding CPU).
    Fields that are not text (lists, numbers) go through urlencode itself."""
    fields = []
    for key, value in data.items():
        if isinstance(key, str) and isinstance(value, str):
            fields.append(_form_key(key) + b"=" + _form_quote(value))
        elif encoded := urlencode([(key, value)], doseq=True):  # an empty list is no field at all
            fields.append(encoded.encode())
    return b"&".join(fields)


@functools.lru_cache(maxsize=256)  # the API's parameter names: a handful, on every request
def _form_key(name: str) -> bytes:
    return _form_quote(name)


def _form_quote(text: str) -> bytes:
    return _FORM_UNSAFE.sub(_form_escape, text.encode()).replace(b" ", b"+")


def _form_escape(unsafe: re.Match[bytes]) -> bytes:
    return _FORM_ESCAPES[unsafe[0][0]]


class _TwilioTransport(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio has no type hints
    """The official client's aiohttp layer with the per-request work it repeats cut: the Basic
    credentials' header is encoded once, and the form body is urlencoded directly (as Twilio's sync
    client sends it) rather than through aiohttp's multipart-capable FormData, which cost an SMS
    more than the encoding itself."""

    def __init__(self, *, timeout: float, logger: logging.Logger) -> None:
        # Twilio's own session (pool_connections) would be a default aiohttp one: ours instead.
        super().__init__(pool_connections=False, timeout=timeout, logger=logger)
        self.session = provider_session("twilio")
        self._authorization: tuple[tuple[str, str], str] | None = None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = self._basic(auth)
        body = None
        if data:
            body = form_body(data)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        async with self.session.request(  # the pooled session __init__ made
            method.upper(),
            url,
            params=params,  # type: ignore[arg-type]  # the query Twilio builds: str values or lists of them
            data=body,
            headers=sent,
            timeout=NO_SESSION_TIMEOUT if timeout is None else aiohttp.ClientTimeout(total=timeout),
            allow_redirects=allow_redirects,
        ) as answer:
            return Response(answer.status, await answer.text(), answer.headers)

    def _basic(self, auth: tuple[str, str]) -> str:
        if self._authorization is None or self._authorization[0] != auth:
            # RFC 7617 Basic credentials, latin-1 as aiohttp's (deprecated) BasicAuth.encode wrote them
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode("latin1")).decode("ascii")
            self._authorization = (auth, f"Basic {token}")
        return self._authorization[1]


class TwilioSmsSender:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        self.from_number = from_number
        self.base_url = (base_url or TWILIO_API_URL).rstrip("/")
        self._auth_token = auth_token
        self._timeout = timeout_seconds
        self._client: Client | None = None
        self._http: _TwilioTransport | None = None

    def _get_client(self) -> Client:
        # Created lazily inside the running event loop: aiohttp sessions belong to one loop.
        if self._client is None:
            self._http = _TwilioTransport(timeout=self._timeout, logger=TWILIO_HTTP_LOG)
            # A non-empty environment mapping keeps TWILIO_EDGE/TWILIO_REGION from the process
            # environment from rewriting the host we point at.
            client = Client(
                self.account_sid,
                self._auth_token,
                http_client=self._http,
                environment={"TWILIO_ACCOUNT_SID": self.account_sid},
            )
            client.api.base_url = self.base_url
            self._client = client
        return self._client

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        if message.channel != "sms":
            raise PermanentSendError(f"TwilioSmsSender cannot send {message.channel}")
        client = self._get_client()
        options: dict[str, str] = {}
        if message.status_callback:
            options["status_callback"] = message.status_callback
        try:
            # The client's async HTTP path ignores its own timeout setting, so the deadline is ours.
            async with asyncio.timeout(self._timeout):
                created = await client.messages.create_async(
                    to=message.recipient, from_=self.from_number, body=message.body, **options
                )
        except (TwilioRestException, TwilioServiceException) as error:
            raise classify_twilio_error(int(error.status), _as_int(error.code), _error_text(error)) from error
        except aiohttp.ClientConnectorError as error:
            # The connection was never made: nothing reached Twilio.
            raise TransientSendError(f"cannot reach Twilio at {self.base_url}: {error}") from error
        except (TimeoutError, aiohttp.ClientError) as error:
            raise TransientSendError(
                f"Twilio call interrupted: {type(error).__name__}: {error}", maybe_accepted=True
            ) from error
        return ProviderReceipt(
            provider="twilio",
            provider_message_id=str(created.sid),
            status=str(created.status),
            segments=_as_int(created.num_segments),
        )

    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        """Twilio's Messages list filtered by To, From and DateSent (from `since`, less a margin for
        clock skew), with the body matched; the oldest match is the earlier attempt's message. A
        message still queued at Twilio has no DateSent yet: then the newest messages to the number
        are read, by creation time."""
        earliest = since - LOOKUP_CLOCK_SKEW
        sent = await self._list(message, date_sent_after=earliest)
        matches = [m for m in sent if m.body == message.body]
        if not matches:
            recent = await self._list(message)
            matches = [
                m
                for m in recent
                if m.body == message.body and m.date_sent is None and (m.date_created or since) >= earliest
            ]
        if not matches:
            return None
        first = min(matches, key=lambda m: m.date_created or since)
        return ProviderReceipt(
            provider="twilio",
            provider_message_id=str(first.sid),
            status=str(first.status),
            segments=_as_int(first.num_segments),
        )

    async def _list(self, message: OutgoingMessage, **filters: datetime) -> list[MessageInstance]:
        client = self._get_client()
        try:
            async with asyncio.timeout(self._timeout):
                found: list[MessageInstance] = await client.messages.list_async(
                    to=message.recipient, from_=self.from_number, limit=LOOKUP_LIMIT, **filters
                )
                return found
        except (TwilioException, TimeoutError, aiohttp.ClientError) as error:
            # TwilioException: list pages that fail raise the base class, not TwilioRestException.
            raise LookupUnavailable(f"Twilio look-up failed: {type(error).__name__}: {error}") from error

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._client = None
        self._http = None


def classify_twilio_error(status: int, code: int | None, text: str) -> SendError:
    """Twilio's answer as a permanent or transient error (pure, so it is testable on its own)."""
    code_text = None if code is None else str(code)
    reason = f"twilio {status} code {code_text}: {text}"
    if code in INVALID_RECIPIENT_CODES:
        return PermanentSendError(reason, code=code_text, invalid_recipient=True)
    if status in NOT_ACCEPTED_STATUSES:
        # 401/403: the credentials are wrong; fixing them lets retries through without losing messages.
        return TransientSendError(reason, code=code_text)
    if status >= 500:
        # A gateway error may hide a message Twilio already created.
        return TransientSendError(reason, code=code_text, maybe_accepted=True)
    return PermanentSendError(reason, code=code_text)


def _as_int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _error_text(error: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(error, TwilioRestException):
        return str(error.msg)
    return str(error.detail or error.title)
