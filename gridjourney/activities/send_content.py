"""What a send puts on the wire: the rendered OutgoingMessage, from the templates its run's journey
version pinned (VersionTemplates), and what operators may read of it."""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.activities.context import CustomerRecord
from gridjourney.channels.base import OutgoingMessage
from gridjourney.content import TemplateLookups, TemplateProblem, render
from gridjourney.content.pinned import PinnedTemplates
from gridjourney.content.render import Templates
from gridjourney.dsl import registry
from gridjourney.dsl.schema import Channel
from gridjourney.workflows.contracts import SendMessageInput, SendOutcome

_CONTACT_POINT = re.compile(r"\+\d{7,15}|[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Versions whose templates a worker keeps: a few per journey is plenty (runs drain off old versions).
VERSIONS_KEPT = 256


class VersionTemplates:
    """The templates a journey version's sends render from: the sources it pinned when published
    (dsl/registry.py), read once per (journey, version) per worker, since a version never changes;
    or the templates folder, for a version that pinned none (published before pinning)."""

    def __init__(self, engine: AsyncEngine, templates_dir: Path) -> None:
        self.engine, self.templates_dir = engine, templates_dir
        self._pinned: OrderedDict[tuple[str, int], PinnedTemplates | None] = OrderedDict()

    async def of(self, journey_id: str, version: int) -> Templates:
        key = (journey_id, version)
        if key in self._pinned:
            self._pinned.move_to_end(key)
        else:
            self._pinned[key] = await registry.version_templates(self.engine, journey_id, version)
            if len(self._pinned) > VERSIONS_KEPT:
                self._pinned.popitem(last=False)
        return self._pinned[key] or self.templates_dir


def outgoing_message(
    templates: Templates,
    request: SendMessageInput,
    customer: CustomerRecord,
    channel: Channel,
    recipient: str,
    status_callback_base: str | None,
    lookups: TemplateLookups | None = None,
) -> SendOutcome | tuple[OutgoingMessage, str]:
    """The message and its locale, or the `failed` outcome of a template that cannot render;
    `templates`: the run's version's (VersionTemplates); `lookups`: the batch's template look-ups
    (content/render.py TemplateLookups), if it sends many."""
    variables: dict[str, Any] = {
        "journey": {"id": request.journey_id, "version": request.journey_version},
        **request.variables,
        "customer": customer.namespace(),
    }
    try:
        rendered = render(templates, channel, request.template, customer.locale, variables, lookups)
    except TemplateProblem as error:
        return SendOutcome(status="failed", channel=channel, reason=f"template_error: {error}")
    callback = None
    if channel == "sms" and status_callback_base is not None:
        # Twilio's status callbacks name the send by its key (inbound/twilio_status.py reads it).
        key = quote(request.idempotency_key, safe="")
        callback = f"{status_callback_base}/webhooks/twilio/status?key={key}"
    message = OutgoingMessage(
        idempotency_key=request.idempotency_key,
        channel=channel,
        customer_id=request.customer_id,
        purpose=request.purpose,
        locale=rendered.locale,
        recipient=recipient,
        subject=rendered.subject,
        body=rendered.body,
        html=rendered.html,
        url=rendered.url,
        status_callback=callback,
    )
    return message, rendered.locale


def lookup_address(customer: CustomerRecord, channel: str) -> str:
    """Where an earlier attempt sent on `channel` (look-ups match on it). Push has no look-up."""
    if channel == "sms":
        return customer.phone or ""
    if channel == "email":
        return customer.email or ""
    return customer.customer_id


def ledger_note(text: str) -> str:
    """A ledger note operators read (`gridjourney sends list`): no phone numbers or email addresses,
    whatever an error message quoted."""
    return _CONTACT_POINT.sub("<redacted>", text)[:500]
