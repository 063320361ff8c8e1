"""What the SendGrid stand-in (channels/sendgrid_standin.py) accepts and answers: the checks SendGrid
makes of a Mail Send body, the message as Email Activity lists it, and Email Activity queries."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import BaseModel

# Headers SendGrid sets itself and refuses in `headers`.
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "content-type",
        "content-transfer-encoding",
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
    }
)
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SUBSTITUTION_BYTES = 10_000  # tags and values of one personalization
QUERY_TERM = re.compile(
    r"""\(?\s*(?:
        unique_args\['(?P<arg>[^']+)'\]\s*=\s*"(?P<arg_value>[^"]*)"
      | (?P<field>to_email|from_email|msg_id|subject|status)\s*=\s*"(?P<value>[^"]*)"
      | last_event_time\s+BETWEEN\s+TIMESTAMP\s+"(?P<start>[^"]+)"\s+AND\s+TIMESTAMP\s+"(?P<end>[^"]+)"
    )\s*\)?""",
    re.VERBOSE | re.IGNORECASE,
)
QUERY_AND = re.compile(r"\s*AND\s+", re.IGNORECASE)


class SentEmail(BaseModel):
    """One accepted message to one recipient, as the stand-in recorded it."""

    message_id: str  # the X-Message-Id of the request
    msg_id: str  # SendGrid's id of this recipient's copy (sg_message_id on events)
    to: str
    from_email: str
    from_name: str | None
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str]
    custom_args: dict[str, str]
    received_at: datetime
    events: list[str]  # what happened to it: processed, delivered, bounce, ...

    @property
    def status(self) -> str:
        if {"bounce", "dropped"} & set(self.events):
            return "not_delivered"
        return "delivered" if "delivered" in self.events else "processed"

    def activity(self) -> dict[str, Any]:
        """The message as the Email Activity API lists it."""
        return {
            "from_email": self.from_email,
            "msg_id": self.msg_id,
            "subject": self.subject,
            "to_email": self.to,
            "status": self.status,
            "opens_count": 0,
            "clicks_count": 0,
            "last_event_time": self.received_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


Predicate = Callable[[SentEmail], bool]


# The shape nearly every address has: ASCII dot-atoms at a host name with a letters-only top-level
# domain. email_validator accepts every such address that is short enough and not at a special-use
# domain, so those skip it (it was 15 % of the stand-ins' CPU in bench cohort); anything else, IDNA
# labels (`--`) included, goes through it.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_+-]{1,64}(?:\.[A-Za-z0-9_+-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_SPECIAL_USE = tuple(name for name in SPECIAL_USE_DOMAIN_NAMES if name != "test")  # test_environment


def _plainly_valid(address: str) -> bool:
    if len(address) > 254 or not _PLAIN_ADDRESS.fullmatch(address):
        return False
    local, domain = address.rsplit("@", 1)
    domain = domain.lower()
    return (
        len(local) <= 64
        and "--" not in domain
        and not any(domain == name or domain.endswith("." + name) for name in _SPECIAL_USE)
    )


def _valid_address(value: object) -> bool:
    if not isinstance(value, str):
        return False
    if _plainly_valid(value):
        return True
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def mail_problem(body: dict[str, Any]) -> tuple[str, str] | None:
    """(message, field) of the first thing SendGrid would refuse in a Mail Send body, else None."""
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not 1 <= len(personalizations) <= 1000:
        return (
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
        )
    for index, personalization in enumerate(personalizations):
        to = personalization.get("to") if isinstance(personalization, dict) else None
        if not isinstance(to, list) or not to:
            return (
                "The to array is required for all personalization objects",
                f"personalizations.{index}.to",
            )
        substitutions = personalization.get("substitutions", {})
        if not isinstance(substitutions, dict) or not all(isinstance(v, str) for v in substitutions.values()):
            return (
                "Invalid type. Expected: string, given: object.",
                f"personalizations.{index}.substitutions",
            )
        if sum(len(tag.encode()) + len(value.encode()) for tag, value in substitutions.items()) > (
            MAX_SUBSTITUTION_BYTES
        ):
            return (
                f"The total size of the substitutions may not exceed {MAX_SUBSTITUTION_BYTES:,} bytes "
                "per personalization object.",
                f"personalizations.{index}.substitutions",
            )
        for copy, recipient in enumerate(to):
            address = recipient.get("email") if isinstance(recipient, dict) else None
            if not _valid_address(address):
                return ("Does not contain a valid address.", f"personalizations.{index}.to.{copy}.email")
    sender = body.get("from")
    if not isinstance(sender, dict) or not _valid_address(sender.get("email")):
        return ("The from email does not contain a valid address.", "from.email")
    reply_to = body.get("reply_to")
    if reply_to is not None and not (isinstance(reply_to, dict) and _valid_address(reply_to.get("email"))):
        return ("The reply_to email does not contain a valid address.", "reply_to.email")
    if not body.get("subject") and not all(
        isinstance(p, dict) and p.get("subject") for p in personalizations
    ):
        return (
            "The subject is required. You can get around this requirement if every personalization "
            "has a subject defined.",
            "subject",
        )
    content = body.get("content")
    if (
        not isinstance(content, list)
        or not content
        or not all(
            isinstance(part, dict)
            and isinstance(part.get("type"), str)
            and isinstance(part.get("value"), str)
            and part["value"]
            for part in content
        )
    ):
        return ("The content value must be a string at least one character in length.", "content")
    types = [part["type"] for part in content]
    if (
        "text/html" in types
        and "text/plain" in types
        and types.index("text/html") < types.index("text/plain")
    ):
        return ("If present, text/plain and text/html may only be provided in this order.", "content")
    headers = body.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return ("Invalid type. Expected: string, given: object.", "headers")
    if reserved := sorted(name for name in headers if name.lower() in RESERVED_HEADERS):
        return (f"The header(s) {', '.join(reserved)} are reserved and cannot be set.", "headers")
    custom_args = body.get("custom_args") or {}
    if not isinstance(custom_args, dict) or not all(isinstance(v, str) for v in custom_args.values()):
        return ("Invalid type. Expected: string, given: object.", "custom_args")
    if len(json.dumps(custom_args).encode()) > MAX_CUSTOM_ARGS_BYTES:
        return ("The custom_args may not exceed 10,000 bytes.", "custom_args")
    return None


def parse_activity_query(query: str) -> list[Predicate]:
    """The Email Activity query as a list of predicates on a SentEmail (all must hold)."""
    predicates: list[Predicate] = []
    position, query = 0, query.strip()
    while position < len(query):
        term = QUERY_TERM.match(query, position)
        if term is None:
            raise ValueError(f"invalid query at character {position}: {query[position : position + 40]!r}")
        predicates.append(_predicate(term))
        position = term.end()
        if position < len(query):
            joint = QUERY_AND.match(query, position)
            if joint is None:
                raise ValueError(f"invalid query at character {position}: expected AND")
            position = joint.end()
    return predicates


def _predicate(term: re.Match[str]) -> Predicate:
    if term["arg"] is not None:
        name, value = term["arg"], term["arg_value"]
        return lambda email: email.custom_args.get(name) == value
    if term["field"] is not None:
        field, value = term["field"].lower(), term["value"]
        read = {"to_email": "to", "from_email": "from_email", "msg_id": "msg_id", "subject": "subject"}
        if field == "status":
            return lambda email: email.status == value
        return lambda email: getattr(email, read[field]) == value
    try:
        start, end = (datetime.fromisoformat(term[name].replace("Z", "+00:00")) for name in ("start", "end"))
    except ValueError:
        raise ValueError("last_event_time needs ISO 8601 timestamps, e.g. 2026-07-14T22:00:00Z") from None
    return lambda email: start <= email.received_at <= end
