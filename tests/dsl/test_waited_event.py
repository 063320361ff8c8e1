"""`waited_event`: the confirmation quotes the booking that ended the wait, checked when the journey loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridjourney.dsl.compiler import check_journey
from gridjourney.dsl.loader import JourneyError, load_journey_with_positions
from tests.files import write_files

# The confirmation's send is on line 13, the reminder's on line 10.
AUDIT_OFFER = """\
id: audit_offer
purpose: marketing
trigger: bill.issued
steps:
  - id: offer
    send: {channels: [sms], template: audit_offer}
  - id: await_booking
    wait_for: {event: audit.booked, timeout: 14d, on_event: confirm, on_timeout: reminder}
  - id: reminder
    send: {channels: [sms], template: audit_offer}
    next: end
  - id: confirm
    send: {channels: [sms], template: audit_confirm}
"""


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    return write_files(
        tmp_path,
        {
            "sms/en/audit_offer.j2": "A free home energy audit? Book at example.com",
            "sms/en/audit_confirm.j2": (
                "Booked: {{ waited_event.scheduled_for | local_datetime }} ({{ waited_event.audit_id }})"
            ),
            "sms/en/audit_typo.j2": "Booked: {{ waited_event.scheduled_at }}",
        },
    )


def problems(source: str, templates: Path) -> list[JourneyError]:
    loaded = load_journey_with_positions(source, "audit.yaml")
    return check_journey(loaded.definition, loaded.positions, templates)


def test_the_confirmation_quotes_the_booking(templates: Path) -> None:
    assert problems(AUDIT_OFFER, templates) == []


def test_a_misspelt_field_of_the_awaited_event_gets_a_did_you_mean(templates: Path) -> None:
    [error] = problems(AUDIT_OFFER.replace("template: audit_confirm", "template: audit_typo"), templates)
    assert error.line == 13
    assert "`waited_event` has no field `scheduled_at`; did you mean `scheduled_for`?" in error.message


def test_after_a_timeout_there_is_no_waited_event(templates: Path) -> None:
    source = AUDIT_OFFER.replace(
        "  - id: reminder\n    send: {channels: [sms], template: audit_offer}",
        "  - id: reminder\n    send: {channels: [sms], template: audit_confirm}",
    )
    [error] = problems(source, templates)
    assert error.line == 10
    assert "not every way to this send passes the event outcome of a `wait_for`" in error.message


def test_a_journey_without_wait_for_has_no_waited_event(templates: Path) -> None:
    source = "\n".join(AUDIT_OFFER.splitlines()[:6]).replace("audit_offer}", "audit_confirm}") + "\n"
    [error] = problems(source, templates)
    assert "not every way to this send passes the event outcome" in error.message


def test_a_cohort_journey_has_no_waited_event(templates: Path) -> None:
    source = """\
id: outage
mode: cohort
purpose: informational
trigger: {event: outage.detected}
cohort: {key: event.incident_id, audience: {grid: true}}
steps:
  - {id: waiting, wait_for: {event: outage.restored, timeout: 4h, on_event: back, on_timeout: end}}
  - {id: back, send: {channels: [sms], template: audit_confirm}}
"""
    found = [e for e in problems(source, templates) if "waited_event" in e.message]
    assert [e.line for e in found] == [8]
