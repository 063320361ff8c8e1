"""What a backtest found: per step, the customers who reached it, the messages it would send (per
channel, template and locale), the messages held back and why, and the first example customers; for
the journey, the entries (a cohort's members), the entries kept out by the re-entry rule, the holdout,
exits and goals, and what was not replayed.
`as_json` is what `--json` prints and POST /v1/journeys/backtest returns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EXAMPLES = 10


@dataclass
class StepReport:
    step_id: str
    kind: str
    reached: int = 0
    examples: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)  # branch case, split arm, event/timeout...
    messages: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (channel, template, locale)
    refused: int = 0  # messages no channel could take (send steps)
    suppressed: Counter[str] = field(default_factory=Counter)  # refusal code per channel tried
    deferred: int = 0  # messages deferred by quiet hours (sent later, counted in `messages` then)
    held_out: int = 0  # runs in the holdout group at this send step: nothing sent

    def reach(self, customer_id: str) -> None:
        self.reached += 1
        if len(self.examples) < EXAMPLES and customer_id not in self.examples:
            self.examples.append(customer_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "step_id": self.step_id,
            "kind": self.kind,
            "reached": self.reached,
            "examples": self.examples,
            "outcomes": dict(self.outcomes),
            "messages": [
                {"channel": channel, "template": template, "locale": locale, "count": count}
                for (channel, template, locale), count in sorted(self.messages.items())
            ],
            "refused": self.refused,
            "suppressed": dict(sorted(self.suppressed.items())),
            "deferred_quiet_hours": self.deferred,
            "held_out": self.held_out,
        }


@dataclass
class BacktestReport:
    journey_id: str
    start: datetime
    end: datetime
    events_in_range: int = 0
    triggers_matched: int = 0  # trigger events whose type and `when` matched
    entered: int = 0
    entry_examples: list[str] = field(default_factory=list)
    blocked_by_reentry: Counter[str] = field(default_factory=Counter)  # by rule
    holdout: int = 0
    converted: int = 0
    exits: Counter[str] = field(default_factory=Counter)  # completed, an exit_on event, unknown_customer
    still_active: int = 0  # at the end of the replay's horizon
    steps: dict[str, StepReport] = field(default_factory=dict)
    # cohort journeys (backtest/cohort_replay.py): runs started, runs whose audience failed (by reason)
    cohort_runs: int = 0
    failed_runs: Counter[str] = field(default_factory=Counter)
    not_replayed: list[str] = field(default_factory=list)  # what the replay left out, for people

    def as_json(self) -> dict[str, Any]:
        messages: Counter[str] = Counter()
        suppressed: Counter[str] = Counter()
        for step in self.steps.values():
            for (channel, _, _), count in step.messages.items():
                messages[channel] += count
            suppressed.update(step.suppressed)
        return {
            "journey_id": self.journey_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "events_in_range": self.events_in_range,
            "triggers_matched": self.triggers_matched,
            "entered": self.entered,
            "entry_examples": self.entry_examples,
            "blocked_by_reentry": dict(self.blocked_by_reentry),
            "holdout": self.holdout,
            "converted": self.converted,
            "exits": dict(sorted(self.exits.items())),
            "still_active": self.still_active,
            "messages_by_channel": dict(sorted(messages.items())),
            "refused": sum(step.refused for step in self.steps.values()),
            "suppressed_by_reason": dict(sorted(suppressed.items())),
            "deferred_quiet_hours": sum(step.deferred for step in self.steps.values()),
            "steps": [step.as_json() for step in self.steps.values()],
            "cohort_runs": self.cohort_runs,
            "failed_runs": dict(sorted(self.failed_runs.items())),
            "not_replayed": list(self.not_replayed),
        }


def report_text(report: BacktestReport) -> str:
    """The report as `journeys backtest` prints it."""
    data = report.as_json()
    blocked = ", ".join(f"{count} by {rule}" for rule, count in data["blocked_by_reentry"].items())
    lines = [
        f"{report.journey_id}: {report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC, "
        f"{report.events_in_range} events",
        f"  entered: {report.entered} (trigger matched {report.triggers_matched}; "
        f"kept out by re-entry: {blocked or 'none'}; holdout {report.holdout})",
        f"  converted: {report.converted}; exits: {_counts(report.exits)}; "
        f"still active: {report.still_active}",
        f"  messages: {_counts(data['messages_by_channel'])}; not sent: {data['refused']} "
        f"(by channel tried: {_counts(data['suppressed_by_reason'])}); "
        f"deferred by quiet hours: {data['deferred_quiet_hours']}",
    ]
    if report.cohort_runs:
        lines.append(f"  cohort runs: {report.cohort_runs} (audience failed: {_counts(report.failed_runs)})")
    if report.entry_examples:
        lines.append(f"  e.g. {', '.join(report.entry_examples)}")
    for step in report.steps.values():
        lines.append(f"  [{step.kind}] {step.step_id}: reached {step.reached}")
        if step.outcomes:
            lines.append(f"      outcomes: {_counts(step.outcomes)}")
        for (channel, template, locale), count in sorted(step.messages.items()):
            lines.append(f"      {count} x {channel} {template} ({locale})")
        if step.refused:
            lines.append(f"      {step.refused} not sent; by channel tried: {_counts(step.suppressed)}")
        if step.held_out:
            lines.append(f"      holdout: {step.held_out} (nothing sent)")
        if step.deferred:
            lines.append(f"      deferred by quiet hours: {step.deferred} (sent later, counted above)")
        if step.examples:
            lines.append(f"      e.g. {', '.join(step.examples)}")
    lines.extend(f"  not replayed: {what}" for what in report.not_replayed)
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "none"
