"""Email through SendGrid's v3 Mail Send API with the official client, pointed at a configurable host.

Every email has a text and an HTML part, the unsubscribe headers of RFC 8058 (List-Unsubscribe with
the https link alone, since no mailbox reads unsubscribe mail; List-Unsubscribe-Post for one-click)
and a footer link to the same URL in both parts. `custom_args` carry the idempotency key, the
customer and the purpose: SendGrid returns them on every Event Webhook row
(gridjourney/inbound/sendgrid_events.py) and answers Email Activity queries by them (`lookup`).

The client is synchronous (urllib), so each call runs in a worker thread (`_CALL_THREADS`) with a deadline.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import socket
import urllib.error
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, cast, get_args

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from gridjourney.channels.base import (
    LookupNotYet,
    LookupUnavailable,
    OutgoingMessage,
    PermanentSendError,
    ProviderReceipt,
    SendError,
    TransientSendError,
)
from gridjourney.channels.email_shared import (
    UNSUBSCRIBE_TAG,
    EmailParts,
    SharedContent,
    holds_tag,
    shared_content,
)
from gridjourney.config import Settings
from gridjourney.events.types import Purpose
from gridjourney.inbound.unsubscribe_links import UnsubscribeLinks, unsubscribe_links
from gridjourney.observability.provider_calls import observed_call
from gridjourney.policy.model import Policy

SENDGRID_API_URL = "https://api.sendgrid.com"
# The client's HTTP layer logs every request's headers and body at DEBUG: the API key, the customer's
# address and name. Nothing below a warning of it may reach our logs, whatever their level.
logging.getLogger("python_http_client").setLevel(logging.WARNING)
# custom_args names: SendGrid copies them onto every event row, beside its own fields.
KEY_ARG = "gridjourney_key"
CUSTOMER_ARG = "gridjourney_customer"
PURPOSE_ARG = "gridjourney_purpose"
ONE_CLICK = "List-Unsubscribe=One-Click"
# Statuses where SendGrid certainly did not take the message: retrying cannot duplicate it.
# 401/403: the key or the sender identity is wrong; fixed, the retries go through with nothing lost.
NOT_ACCEPTED_STATUSES = frozenset({401, 403, 429})
PURPOSES: tuple[str, ...] = get_args(Purpose)
# Mail Send's limit of personalizations per request.
MAX_PERSONALIZATIONS = 1000
# Mail Send requests in flight at once from one send_many. The SendGrid client (python_http_client)
# opens a new urllib connection per request and cannot pool them, so concurrency is what hides the
# round trips. Its own thread pool, so these calls neither wait for nor crowd out the loop's default
# executor (min(32, cores + 4) threads).
EMAIL_CONCURRENCY = 16
_CALL_THREADS = ThreadPoolExecutor(max_workers=EMAIL_CONCURRENCY * 2, thread_name_prefix="sendgrid")
REFUSED_PERSONALIZATION = re.compile(r"personalizations\.(?P<index>\d+)\.to")

FOOTERS = {
    "en": {
        "marketing": "You get offers and news by email from {sender}.",
        "informational": "You get account alerts by email from {sender}.",
        "safety": "You get safety notices by email from {sender}.",
        "link": "Unsubscribe",
    },
    "es": {
        "marketing": "Recibe ofertas y novedades por correo de {sender}.",
        "informational": "Recibe avisos de su cuenta por correo de {sender}.",
        "safety": "Recibe avisos de seguridad por correo de {sender}.",
        "link": "Cancelar la suscripción",
    },
}


@dataclass(frozen=True)
class EmailIdentity:
    """Who emails come from (the policy's `senders.email`)."""

    from_address: str
    from_name: str
    reply_to: str | None = None


class SendGridEmailSender:
    """`activity_lag`: how long SendGrid's Email Activity may take to show an accepted message; a
    look-up that finds nothing for an attempt younger than that cannot say "not sent"."""

    def __init__(
        self,
        *,
        api_key: str,
        identity: EmailIdentity,
        links: UnsubscribeLinks,
        base_url: str | None = None,
        timeout_seconds: float = 10.0,
        activity_lag: timedelta = timedelta(minutes=5),
    ) -> None:
        self.identity = identity
        self.links = links
        self.base_url = (base_url or SENDGRID_API_URL).rstrip("/")
        self.activity_lag = activity_lag
        self._api_key = api_key
        self._timeout = timeout_seconds

    def _client(self) -> SendGridAPIClient:
        # One per call: the client's request headers are shared mutable state, and calls run in threads.
        return SendGridAPIClient(self._api_key, host=self.base_url)

    # --- sending -------------------------------------------------------------------------------
    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        mail = self.mail(message)
        try:
            response = await self._call(lambda client: client.client.mail.send.post(request_body=mail))
        except HTTPError as error:
            raise classify_sendgrid_error(int(error.status_code), _error_text(error)) from error
        except urllib.error.URLError as error:
            raise _network_error(error, self.base_url) from error
        except (TimeoutError, OSError) as error:
            raise TransientSendError(
                f"SendGrid call interrupted: {type(error).__name__}: {error}", maybe_accepted=True
            ) from error
        message_id = response.headers.get("X-Message-Id") or ""
        if not message_id:
            # Accepted (2xx) yet unnamed: the message is on its way; the key still finds it later.
            message_id = f"sendgrid-{message.idempotency_key}"[:100]
        return ProviderReceipt(provider="sendgrid", provider_message_id=message_id, status="accepted")

    def mail(self, message: OutgoingMessage, unsubscribe_url: str | None = None) -> dict[str, Any]:
        """The Mail Send request body for `message` (headers, parts, custom_args, footer).
        `unsubscribe_url`: written in the footer instead of the customer's own link (`send_many`
        writes a substitution tag there)."""
        _check(message)
        purpose = cast(Purpose, message.purpose)
        url = unsubscribe_url or self._unsubscribe_url(message)
        text, page = self._parts(message, url)
        # Written as the API's JSON, not with the Mail helper: the helper reads an address without
        # "@" as a display name and fails, where SendGrid's own answer names the field at fault.
        body: dict[str, Any] = {
            "personalizations": [{"to": [{"email": message.recipient}]}],
            "from": {"email": self.identity.from_address, "name": self.identity.from_name},
            "subject": message.subject or "",
            "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": page}],
            "headers": {
                **message.headers,
                "List-Unsubscribe": f"<{url}>",
                "List-Unsubscribe-Post": ONE_CLICK,
            },
            "custom_args": {
                KEY_ARG: message.idempotency_key,
                CUSTOMER_ARG: message.customer_id,
                PURPOSE_ARG: purpose,
            },
        }
        if self.identity.reply_to:
            body["reply_to"] = {"email": self.identity.reply_to}
        return body

    def _parts(self, message: OutgoingMessage, url: str) -> tuple[str, str]:
        """The text and HTML parts: the rendered message with the footer and its link `url`."""
        footer_text, link_text = self._footer(message.locale, cast(str, message.purpose))
        text = f"{message.body}\n\n--\n{footer_text}\n{link_text}: {url}\n"
        page = (
            message.html or f"<!DOCTYPE html><html><body><pre>{html.escape(message.body)}</pre></body></html>"
        )
        before_link, after_link = _footer_html(footer_text, link_text)
        footer_html = f"{before_link}{html.escape(url)}{after_link}"
        end = page.lower().rfind("</body>")
        page = page[:end] + footer_html + page[end:] if end >= 0 else page + footer_html
        return text, page

    async def send_many(self, messages: Sequence[OutgoingMessage]) -> list[ProviderReceipt | SendError]:
        """Many emails in few Mail Send requests: those that may share one (`content_key`) go up to
        1,000 personalizations a request, what differs between them (a greeting by name, the
        unsubscribe link) as each personalization's substitutions (channels/email_shared.py), with
        its own subject, List-Unsubscribe header and custom_args (the key, so Email Activity
        look-ups and Event Webhook rows name the send). An email too different to share goes in a
        request of its own. Answers in the order of `messages`: the receipt, or the error of that
        message (a refused address fails alone: the request goes again without it)."""
        answers: list[ProviderReceipt | SendError | None] = [None] * len(messages)
        requests: list[list[int]] = []
        groups: dict[tuple[object, ...], list[int]] = {}
        for index, message in enumerate(messages):
            if holds_tag(message.subject, message.body, message.html):
                requests.append([index])
            else:
                groups.setdefault(content_key(message), []).append(index)
        for indexes in groups.values():
            requests += [
                indexes[start : start + MAX_PERSONALIZATIONS]
                for start in range(0, len(indexes), MAX_PERSONALIZATIONS)
            ]
        limit = asyncio.Semaphore(EMAIL_CONCURRENCY)

        async def send_part(part: list[int]) -> None:
            async with limit:
                found = await self._send_group([messages[i] for i in part])
            for index, answer in zip(part, found, strict=True):
                answers[index] = answer

        async with asyncio.TaskGroup() as running:
            for part in requests:
                running.create_task(send_part(part))
        return [answer for answer in answers if answer is not None]

    async def _send_group(self, group: list[OutgoingMessage]) -> list[ProviderReceipt | SendError]:
        """One request for `group` (what cannot share it: one request each), answered in order."""
        for message in group:
            _check(message)
        answers: dict[int, ProviderReceipt | SendError] = {}
        left = list(range(len(group)))
        urls = [self._unsubscribe_url(message) for message in group]
        while left:
            parts = [
                EmailParts(*self._parts(group[i], UNSUBSCRIBE_TAG), unsubscribe_url=urls[i]) for i in left
            ]
            shared = shared_content(parts)
            alone = [i for i, own in zip(left, shared.substitutions, strict=True) if own is None]
            if alone and len(left) > 1:
                for index in alone:
                    answers[index] = (await self._send_group([group[index]]))[0]
                left = [i for i in left if i not in set(alone)]
                continue
            if len(left) == 1:
                body = self.mail(group[left[0]], unsubscribe_url=urls[left[0]])  # nothing to share
            else:
                body = self._shared_mail(group[left[0]], shared)
                body["personalizations"] = [
                    self._personalization(group[i], urls[i], cast(dict[str, str], own))
                    for i, own in zip(left, shared.substitutions, strict=True)
                ]
            try:
                error: SendError | None = None
                response = await self._post(body)
            except HTTPError as http_error:
                text = _error_text(http_error)
                error = classify_sendgrid_error(int(http_error.status_code), text)
                refused = REFUSED_PERSONALIZATION.search(text)
                if isinstance(error, PermanentSendError) and error.invalid_recipient and refused:
                    answers[left.pop(int(refused["index"]))] = error
                    continue
            except urllib.error.URLError as network_error:
                error = _network_error(network_error, self.base_url)
            except (TimeoutError, OSError) as interrupted:
                error = TransientSendError(
                    f"SendGrid call interrupted: {type(interrupted).__name__}: {interrupted}",
                    maybe_accepted=True,
                )
            if error is not None:
                answers |= dict.fromkeys(left, error)
                break
            message_id = response.headers.get("X-Message-Id") or ""
            for index in left:
                named = message_id or f"sendgrid-{group[index].idempotency_key}"[:100]
                answers[index] = ProviderReceipt(
                    provider="sendgrid", provider_message_id=named, status="accepted"
                )
            break
        return [answers[index] for index in range(len(group))]

    def _shared_mail(self, first: OutgoingMessage, shared: SharedContent) -> dict[str, Any]:
        """The request's shared body: `first`'s, with the shared parts and nothing of `first`'s own."""
        body = self.mail(first, unsubscribe_url=UNSUBSCRIBE_TAG)
        body.pop("custom_args")
        for name in ("List-Unsubscribe", "List-Unsubscribe-Post"):
            body["headers"].pop(name)
        body["content"] = [
            {"type": "text/plain", "value": shared.text},
            {"type": "text/html", "value": shared.html},
        ]
        return body

    async def _post(self, body: dict[str, Any]) -> Any:
        return await self._call(lambda client: client.client.mail.send.post(request_body=body))

    def _unsubscribe_url(self, message: OutgoingMessage) -> str:
        return self.links.url(cast(str, message.customer_id), "email", cast(Purpose, message.purpose))

    def _personalization(
        self, message: OutgoingMessage, url: str, substitutions: dict[str, str]
    ) -> dict[str, Any]:
        return {
            "to": [{"email": message.recipient}],
            "subject": message.subject or "",
            "headers": {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK},
            "substitutions": substitutions,
            "custom_args": {
                KEY_ARG: message.idempotency_key,
                CUSTOMER_ARG: cast(str, message.customer_id),
                PURPOSE_ARG: cast(Purpose, message.purpose),
            },
        }

    def _footer(self, locale: str | None, purpose: str) -> tuple[str, str]:
        language = (locale or "en").split("-")[0]
        words = FOOTERS.get(language, FOOTERS["en"])
        return words[purpose].format(sender=self.identity.from_name), words["link"]

    # --- looking up ----------------------------------------------------------------------------
    async def lookup(self, message: OutgoingMessage, since: datetime) -> ProviderReceipt | None:
        """The message SendGrid accepted with this key since `since`, via the Email Activity API."""
        key = message.idempotency_key
        if '"' in key or "\\" in key:
            raise LookupUnavailable("the key holds a character the Email Activity query cannot quote")
        now = datetime.now(UTC)
        query = (
            f"unique_args['{KEY_ARG}']=\"{key}\" AND last_event_time BETWEEN "
            f'TIMESTAMP "{_timestamp(since)}" AND TIMESTAMP "{_timestamp(now + timedelta(minutes=1))}"'
        )
        try:
            response = await self._call(
                lambda client: client.client.messages.get(query_params={"query": query, "limit": 10})
            )
            found = json.loads(response.body or b"{}").get("messages") or []
        except (HTTPError, OSError, ValueError, AttributeError) as error:
            raise LookupUnavailable(f"SendGrid Email Activity did not answer: {error}") from error
        for row in found:
            if isinstance(row, dict) and row.get("msg_id"):
                message_id = str(row["msg_id"]).split(".")[0]
                return ProviderReceipt(
                    provider="sendgrid", provider_message_id=message_id, status=str(row.get("status"))
                )
        if now - since < self.activity_lag:
            raise LookupNotYet(
                f"nothing found, but Email Activity may show a message up to {self.activity_lag} late",
                retry_after=since + self.activity_lag - now,
            )
        return None

    async def _call(self, request: Callable[[SendGridAPIClient], Any]) -> Any:
        client = self._client()
        # The thread keeps the socket timeout; the deadline here bounds the wait for it.
        client.client.timeout = self._timeout
        with observed_call("sendgrid", "SendGrid API call"):  # latency metric (and span)
            async with asyncio.timeout(self._timeout + 1):
                return await asyncio.get_running_loop().run_in_executor(_CALL_THREADS, request, client)

    async def close(self) -> None:
        """Nothing to release: each call opens and closes its own connection."""


def sendgrid_base_url(settings: Settings) -> str:
    """The configured SendGrid URL, or the embedded stack's stand-in on 127.0.0.1."""
    return settings.sendgrid_base_url or f"http://127.0.0.1:{settings.email_standin_port}"


def email_sender_from_settings(settings: Settings, policy: Policy) -> SendGridEmailSender:
    """The sender the workers use: SendGrid (or its stand-in), the policy's identity, the deployment's
    unsubscribe links."""
    identity = policy.senders.email
    return SendGridEmailSender(
        api_key=settings.sendgrid_api_key.get_secret_value(),
        identity=EmailIdentity(identity.from_address, identity.from_name, identity.reply_to),
        links=unsubscribe_links(settings),
        base_url=sendgrid_base_url(settings),
        # The stand-in lists a message the moment it accepts it; SendGrid's feed may lag.
        activity_lag=timedelta(minutes=5) if settings.sendgrid_base_url else timedelta(0),
    )


def content_key(message: OutgoingMessage) -> tuple[object, ...]:
    """What must be equal for two emails to share one Mail Send request: the purpose and locale (the
    footer says them), the extra headers, and whether there is a subject (a personalization's empty
    subject would take the request's). Subjects and bodies may differ: substitutions carry them."""
    headers = tuple(sorted(message.headers.items()))
    return (message.purpose, message.locale, bool(message.subject), headers)


@lru_cache(maxsize=64)
def _footer_html(footer_text: str, link_text: str) -> tuple[str, str]:
    """The HTML footer's text before and after its link's address, escaped once per footer wording."""
    return (
        f'<p style="font-size:12px;color:#52606d;">{html.escape(footer_text)} <a href="',
        f'">{html.escape(link_text)}</a></p>',
    )


def _check(message: OutgoingMessage) -> None:
    if message.channel != "email":
        raise PermanentSendError(f"SendGridEmailSender cannot send {message.channel}")
    if message.customer_id is None or message.purpose not in PURPOSES:
        raise PermanentSendError("an email needs its customer and purpose: its unsubscribe link names them")


def classify_sendgrid_error(status: int, text: str) -> SendError:
    """SendGrid's answer as a permanent or transient error (pure, so it is testable on its own)."""
    reason = f"sendgrid {status}: {text}"
    if status in NOT_ACCEPTED_STATUSES:
        return TransientSendError(reason, code=str(status))
    if status >= 500:
        # A gateway error may hide a message SendGrid already took.
        return TransientSendError(reason, code=str(status), maybe_accepted=True)
    invalid_recipient = status == 400 and ".to." in text and "valid" in text.lower()
    return PermanentSendError(reason, code=str(status), invalid_recipient=invalid_recipient)


def _error_text(error: HTTPError) -> str:
    """SendGrid's `errors` as `field: message; ...` (the field names the recipient when it is at fault)."""
    try:
        errors = json.loads(error.body).get("errors") or []
        parts = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
        ]
        return "; ".join(parts) or str(error.reason)
    except (ValueError, AttributeError, TypeError):
        return str(error.reason)


def _network_error(error: urllib.error.URLError, base_url: str) -> TransientSendError:
    if isinstance(error.reason, ConnectionRefusedError | socket.gaierror):
        # The connection was never made: nothing reached SendGrid.
        return TransientSendError(f"cannot reach SendGrid at {base_url}: {error.reason}")
    return TransientSendError(f"SendGrid call interrupted: {error.reason}", maybe_accepted=True)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
