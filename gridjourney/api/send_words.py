"""Send decisions in words, for the timeline: "capped: 3 informational SMS in 7 days", "not sent:
consent revoked by SMS reply", "deferred to 08:00 America/Chicago by quiet hours".

The send activity records each decision's reason as eligibility states it (activities/eligibility.py,
`SendDecision.reason`): `<channel>: <code>` or `<channel>: <code> (<detail>)` per channel tried,
joined by "; ". A reason of another shape (recorded before the policy existed) is shown as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CHECK = re.compile(r"^(sms|email|push): ([a-z_]+)(?: \((.*)\))?$")
_CAP = re.compile(r"^(\d+) (\w+) (sms|email|push|messages) in ([0-9dhms]+)$")
_DURATION_PART = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": "day", "h": "hour", "m": "minute", "s": "second"}
CHANNEL_NAMES = {"sms": "SMS", "email": "email", "push": "push"}
# how a consent was changed (consent.changed `method`) → in words
REVOKED_BY = {"sms_reply": "by SMS reply", "unsubscribe_link": "by unsubscribe link"}
CONTACT_POINTS = {"sms": "no phone number", "email": "no email address", "push": "no push subscription"}


@dataclass(frozen=True)
class Check:
    channel: str
    code: str
    detail: str | None


def parse_reason(reason: str) -> list[Check] | None:
    """The per-channel checks of a policy reason; None when the reason has another shape."""
    checks = []
    for part in reason.split("; "):
        match = _CHECK.match(part.strip())
        if match is None:
            return None
        checks.append(Check(match[1], match[2], match[3]))
    return checks


def duration_words(text: str) -> str:
    """`7d` → "7 days", `1d12h` → "1 day 12 hours"."""
    parts = [
        f"{count} {_UNITS[unit]}{'' if count == '1' else 's'}" for count, unit in _DURATION_PART.findall(text)
    ]
    return " ".join(parts) or text


def cap_words(detail: str | None) -> str:
    """`3 informational sms in 7d` → "3 informational SMS in 7 days"."""
    match = _CAP.match(detail or "")
    if match is None:
        return detail or "frequency cap reached"
    count, purpose, what, per = match.groups()
    plural = "" if count == "1" else "s"
    noun = {
        "sms": "SMS",
        "email": f"email{plural}",
        "push": f"push notification{plural}",
        "messages": f"message{plural}",
    }[what]
    return f"{count} {purpose} {noun} in {duration_words(per)}"


def check_words(check: Check, revoked_by: Mapping[str, str]) -> str:
    """One channel's refusal, e.g. "consent revoked by SMS reply"."""
    channel = CHANNEL_NAMES.get(check.channel, check.channel)
    detail = check.detail
    if check.code == "frequency_cap":
        return f"capped: {cap_words(detail)}"
    if check.code == "consent_revoked":
        method = revoked_by.get(check.channel)
        how = REVOKED_BY.get(method, f"({method})") if method else None
        return f"consent revoked {how}" if how else "consent revoked"
    if check.code == "no_consent":
        return f"no {channel} consent"
    if check.code == "suppressed_address":
        return f"{channel} address suppressed" + (f" ({detail.replace('_', ' ')})" if detail else "")
    if check.code == "no_contact_point":
        return CONTACT_POINTS.get(check.channel, f"no {channel} contact point")
    if check.code == "channel_not_configured":
        return f"{channel} not configured"
    if check.code == "quiet_hours":
        return "quiet hours" + (f" {detail}" if detail else "")
    if check.code == "no_sending_hours":
        return "no sending hours" + (f": {detail}" if detail else "")
    return check.code.replace("_", " ") + (f" ({detail})" if detail else "")


def suppression_words(reason: str, revoked_by: Mapping[str, str]) -> str | None:
    """The headline of a suppression, or None when the reason is not a policy reason."""
    checks = parse_reason(reason)
    if not checks:
        return None
    if all(check.code == "frequency_cap" for check in checks):
        return "capped: " + "; ".join(dict.fromkeys(cap_words(check.detail) for check in checks))
    if len(checks) == 1:
        return f"not sent: {check_words(checks[0], revoked_by)}"
    return "not sent: " + "; ".join(_on_channel(check, check_words(check, revoked_by)) for check in checks)


def _on_channel(check: Check, words: str) -> str:
    """One channel's refusal in a list of several: named once ("SMS address suppressed", not "SMS SMS
    address suppressed")."""
    channel = CHANNEL_NAMES.get(check.channel, check.channel)
    return words if words.startswith((f"{channel} ", f"no {channel} ")) else f"{channel} {words}"


def deferral_words(until: str, zone: str) -> tuple[str, str]:
    """("deferred to 08:00 America/Chicago by quiet hours", "Tue 2026-12-01"): the moment on the clock
    of the zone quiet hours were judged in (UTC if that zone is unknown here)."""
    at = datetime.fromisoformat(until)
    try:
        at = at.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        at, zone = at.astimezone(ZoneInfo("UTC")), "UTC"
    return f"deferred to {at:%H:%M} {zone} by quiet hours", f"{at:%a %Y-%m-%d}"
