"""One human-readable line per event of a customer's timeline: what happened and why.

Lines are built from the stored payloads (validated JSON), so every reason shown here is one the
engine recorded at the time, e.g. "message suppressed: no sms consent for marketing".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    how = f" ({p['method']})" if p.get("method") else ""
    return (
        f"{'granted' if p['granted'] else 'revoked'} {p['channel']} consent for {p['purpose']} messages{how}"
    )


def _customer_updated(p: Payload) -> str:
    fields = [name for name, value in p.items() if value not in (None, {}, [])]
    return "customer updated: " + (", ".join(fields) or "nothing changed")


def _entered(p: Payload) -> str:
    line = f"entered journey {p['journey_id']} (version {p['version']})"
    if p.get("holdout"):
        line += " in the holdout group: receives no messages"
    return line


def _step(p: Payload) -> str:
    outcome = f": {p['outcome']}" if p.get("outcome") else ""
    return f"journey {p['journey_id']}: step {p['step_id']} ({p['kind']}) done{outcome}"


def _message(verb: str) -> Callable[[Payload], str]:
    def line(p: Payload) -> str:
        channel = p.get("channel")
        # A suppression may come before any channel was chosen: the reason is the headline then.
        head = f"message {verb}" if verb == "suppressed" else f"{channel or 'message'} {verb}"
        if p.get("reason"):
            head += f": {p['reason']}"
        details = [channel if verb == "suppressed" else None, p.get("template"), p.get("locale")]
        context = ", ".join(str(d) for d in details if d)
        return head + (f" ({context})" if context else "")

    return line


LINES: dict[str, Callable[[Payload], str]] = {
    "customer.created": lambda p: (
        f"customer created (language {p.get('locale')}, time zone {p.get('time_zone')})"
    ),
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
    "journey.entered": _entered,
    "journey.step_completed": _step,
    "journey.exited": lambda p: f"left journey {p['journey_id']}: {p['reason']}",
    "journey.converted": lambda p: f"reached the goal of journey {p['journey_id']} ({p['goal_event']})",
    "message.sent": _message("sent"),
    "message.suppressed": _message("suppressed"),
    "message.delivered": _message("delivered"),
    "message.failed": _message("failed"),
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


def explain(event_type: str, payload: Payload) -> str:
    render = LINES.get(event_type)
    if render is None:
        return event_type
    try:
        return render(payload)
    except (KeyError, TypeError, ValueError):
        # An older schema version may lack a field: say what happened rather than fail the timeline.
        return event_type.replace(".", " ").replace("_", " ")
