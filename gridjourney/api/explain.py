"""One human-readable line per event of a customer's timeline: what happened and why.

Lines are built from the stored payloads (validated JSON), so every reason shown here is one the
engine recorded at the time, e.g. "capped: 3 informational SMS in 7 days" (send decisions are worded
by api/send_words.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gridjourney.api.send_words import deferral_words, suppression_words
from gridjourney.policy.quiet_hours import UNSET_ZONES

Payload = dict[str, Any]


def _money(value: Any, currency: Any) -> str:
    return f"{float(value):.2f} {currency or ''}".strip()


def bill_ratio(p: Payload) -> float | None:
    """projected / typical: the payload's own `ratio` (optional, events/types.py), else computed; None
    when there is no typical bill to compare with."""
    if p.get("ratio") is not None:
        return float(p["ratio"])
    typical = float(p["typical_amount"])
    return round(float(p["projected_amount"]) / typical, 4) if typical else None


def _bill_projection(p: Payload) -> str:
    projected, typical = float(p["projected_amount"]), float(p["typical_amount"])
    ratio = bill_ratio(p)
    change = f" ({(ratio - 1) * 100:+.0f}%)" if ratio is not None else ""
    currency = p.get("currency")
    return (
        f"bill projected at {_money(projected, currency)} against a typical {_money(typical, currency)}"
        f"{change}, {p['days_left']} days left in the period"
    )


def _consent(p: Payload) -> str:
    method = p.get("method")
    what = f"{p['channel']} consent for {p['purpose']} messages"
    if method == "sms_reply":
        return (
            f"opted out by reply STOP: {what} revoked"
            if not p["granted"]
            else f"opted in by reply START: {what} granted"
        )
    if method == "unsubscribe_link" and not p["granted"]:
        return f"unsubscribed by link: {what} revoked"
    how = f" ({method})" if method else ""
    return f"{'granted' if p['granted'] else 'revoked'} {what}{how}"


def _customer_updated(p: Payload) -> str:
    """Names what changed, never the values (a name, a phone number)."""
    fields = [
        f"attributes ({', '.join(sorted(value))})"
        if name == "attributes" and isinstance(value, dict)
        else name
        for name, value in p.items()
        if value not in (None, {}, [])
    ]
    return "customer updated: " + (", ".join(fields) or "nothing changed")


def _reads_imported(p: Payload) -> str:
    period = f", {p['first_read_at']} to {p['last_read_at']}" if p.get("first_read_at") else ""
    counts = f"{p['reads_stored']} new of {p['reads_in_file']} in the file"
    return f"meter reads imported: {counts} ({p['format']}{period})"


def _outage_reported(p: Payload) -> str:
    by = f" by {p['channel']}" if p.get("channel") else ""
    about = f" (outage {p['incident_id']})" if p.get("incident_id") else ""
    return f"the customer reported no power{by}{about}"


def _entered(p: Payload) -> str:
    line = f"entered journey {p['journey_id']} (version {p['version']})"
    if p.get("holdout"):
        line += " in the holdout group: receives no messages"
    return line


def _step(p: Payload) -> str:
    outcome = f": {p['outcome']}" if p.get("outcome") else ""
    return f"journey {p['journey_id']}: step {p['step_id']} ({p['kind']}) done{outcome}"


def _context(*details: Any) -> str:
    shown = ", ".join(str(d) for d in details if d)
    return f" ({shown})" if shown else ""


def _message(verb: str) -> Callable[[Payload], str]:
    def line(p: Payload) -> str:
        channel = p.get("channel")
        # A suppression may come before any channel was chosen: the reason is the headline then.
        head = f"message {verb}" if verb == "suppressed" else f"{channel or 'message'} {verb}"
        if p.get("reason"):
            head += f": {p['reason']}"
        return head + _context(channel if verb == "suppressed" else None, p.get("template"), p.get("locale"))

    return line


def _suppressed(p: Payload, revoked_by: Mapping[str, str]) -> str:
    words = suppression_words(str(p.get("reason") or ""), revoked_by)
    if words is None:
        return _message("suppressed")(p)
    return words + _context(p.get("template"), p.get("locale"))


def _deferred(p: Payload) -> str:
    words, day = deferral_words(p["until"], p["time_zone"])
    return words + _context(day, p.get("template"), p.get("locale"))


def _bounced(p: Payload) -> str:
    head = f"{p.get('channel') or 'email'} bounced ({p.get('bounce_type') or 'hard'})"
    return head + (f": {p['reason']}" if p.get("reason") else "") + _context(p.get("template"))


def _undelivered(p: Payload) -> str:
    why = [p.get("reason"), f"error {p['error_code']}" if p.get("error_code") else None]
    shown = ", ".join(str(w) for w in why if w)
    return (
        f"{p.get('channel') or 'message'} undelivered"
        + (f": {shown}" if shown else "")
        + _context(p.get("template"))
    )


def _engagement(what: str) -> Callable[[Payload], str]:
    return lambda p: f"{p.get('channel') or 'email'} {what}" + _context(p.get("template"))


def _suppression(p: Payload, added: bool) -> str:
    # the address itself is personal: the line names the channel and the reason only
    if added:
        source = f" (reported by {p['source']})" if p.get("source") else ""
        return f"{p['channel']} address put on the suppression list: {p['reason'].replace('_', ' ')}{source}"
    return f"{p['channel']} address taken off the suppression list" + (
        f": {p['reason']}" if p.get("reason") else ""
    )


def _customer_created(p: Payload) -> str:
    return f"customer created (language {p.get('locale')}, {_zone(p.get('time_zone'))})"


def _zone(zone: object) -> str:
    # customer.created's default, UTC, reads as "not given" where the zone matters (quiet hours)
    if zone is None or zone in UNSET_ZONES:
        return "no time zone given: the policy's default_time_zone applies"
    return f"time zone {zone}"


LINES: dict[str, Callable[[Payload], str]] = {
    "customer.created": _customer_created,
    "customer.updated": _customer_updated,
    "consent.changed": _consent,
    "bill.projection_updated": _bill_projection,
    "bill.issued": lambda p: f"bill issued for {_money(p['amount'], '')}",
    "meter.anomaly_detected": lambda p: (
        f"meter anomaly detected: {p['anomaly_type']} (score {float(p['score']):.2f})"
    ),
    "usage.reduced": lambda p: (
        f"usage reduced by {float(p['kwh_saved']):.1f} kWh over {p['period_days']} days"
    ),
    "dr.event_scheduled": lambda p: (
        f"demand-response event {p['dr_event_id']} ({p['program']}) scheduled from {p['start']} to {p['end']}"
    ),
    "dr.event_modified": lambda p: (
        f"demand-response event {p['dr_event_id']} changed (modification {p['modification_number']}): "
        f"now from {p['start']} to {p['end']}"
    ),
    "dr.event_cancelled": lambda p: (
        f"demand-response event {p['dr_event_id']} cancelled"
        + (f": {p['reason']}" if p.get("reason") else "")
    ),
    "outage.detected": lambda p: (
        f"outage {p['incident_id']} detected"
        + (f", restoration estimated at {p['etr']}" if p.get("etr") else "")
    ),
    "outage.etr_updated": lambda p: f"outage {p['incident_id']}: restoration now estimated at {p['etr']}",
    "outage.restored": lambda p: f"outage {p['incident_id']}: power restored at {p['restored_at']}",
    "outage.reported": _outage_reported,
    "customer.erased": lambda p: "customer erased: their personal data is unreadable from here on",
    "program.enrolled": lambda p: f"enrolled in program {p['program']}",
    "program.unenrolled": lambda p: f"left program {p['program']}",
    "meter.reads_imported": _reads_imported,
    "journey.entered": _entered,
    "journey.step_completed": _step,
    "journey.exited": lambda p: f"left journey {p['journey_id']}: {p['reason']}",
    "journey.converted": lambda p: f"reached the goal of journey {p['journey_id']} ({p['goal_event']})",
    "message.sent": _message("sent"),
    "message.deferred": _deferred,
    "message.delivered": _message("delivered"),
    "message.failed": _message("failed"),
    "message.undelivered": _undelivered,
    "message.bounced": _bounced,
    "message.dropped": _message("dropped"),
    "message.spam_reported": _engagement("reported as spam"),
    "message.opened": _engagement("opened"),
    "message.clicked": _engagement("link clicked"),
    # the body is the customer's own words (sealed): the line gives only its first word, as matched
    "message.received": lambda p: (
        f"{p.get('channel') or 'sms'} reply received"
        + (f" (first word: {p['keyword']})" if p.get("keyword") else "")
    ),
    "suppression.added": lambda p: _suppression(p, added=True),
    "suppression.removed": lambda p: _suppression(p, added=False),
    "push.subscribed": lambda p: "push subscription added",
    "push.unsubscribed": lambda p: (
        "push subscription removed" + (f": {p['reason']}" if p.get("reason") else "")
    ),
}


def with_derived_fields(event_type: str, payload: Payload) -> Payload:
    """The payload as the timeline shows it: a bill projection carries the `ratio` its line quotes,
    also when the sender left it out."""
    if event_type != "bill.projection_updated" or payload.get("ratio") is not None:
        return payload
    try:
        ratio = bill_ratio(payload)
    except (KeyError, TypeError, ValueError):
        return payload
    return payload if ratio is None else {**payload, "ratio": ratio}


def explain(event_type: str, payload: Payload, revoked_by: Mapping[str, str] | None = None) -> str:
    """The line for one event. `revoked_by`: channel → how its consent was last revoked before this
    event (consent.changed `method`), for "not sent: consent revoked by SMS reply"."""
    try:
        if event_type == "message.suppressed":
            return _suppressed(payload, revoked_by or {})
        render = LINES.get(event_type)
        return event_type if render is None else render(payload)
    except (KeyError, TypeError, ValueError, AttributeError):
        # An older schema version may lack a field: say what happened rather than fail the timeline.
        return event_type.replace(".", " ").replace("_", " ")
