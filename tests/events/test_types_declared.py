"""Event types declared in events/*.yaml: typed payloads like the built-in ones, and every mistake of
the declaration refused at its file:line:column."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from gridjourney.dsl.declarations import DeclarationErrors
from gridjourney.events.declared import declared_events, load_declared_events
from gridjourney.events.models import NewEvent
from gridjourney.events.types import EVENT_TYPES, is_about_a_customer, payload_model, validate_payload

SHIPPED = Path(__file__).parents[2] / "events"


def declare(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return tmp_path


def problems(directory: Path) -> list[str]:
    with pytest.raises(DeclarationErrors) as caught:
        load_declared_events(directory)
    return [str(error) for error in caught.value.errors]


def test_the_shipped_declarations_are_in_use_and_typed() -> None:
    declared = declared_events()
    shipped = load_declared_events(SHIPPED)
    assert set(declared.models) == set(shipped.models) and declared.about_customer == shipped.about_customer
    assert {"audit.booked", "bill.past_due", "budget_billing.enrolled"} <= set(declared.models)
    stored = validate_payload(
        "bill.past_due",
        {"amount_due": "84.5", "days_past_due": 12, "due_date": "2025-11-01T00:00:00Z"},
    )
    assert stored == {
        "amount_due": 84.5,
        "days_past_due": 12,
        "due_date": "2025-11-01T00:00:00Z",
        "hardship": None,
    }
    assert is_about_a_customer("audit.booked") and not is_about_a_customer("dr.event_scheduled")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"audit_id": "A-1", "scheduled_for": "2025-11-03T09:00:00Z"}, "kind"),  # required
        ({"audit_id": "A-1", "scheduled_for": "tomorrow", "kind": "virtual"}, "scheduled_for"),
        ({"audit_id": "A-1", "scheduled_for": "2025-11-03T09:00:00Z", "kind": "by_phone"}, "kind"),
        ({"audit_id": "A-1", "scheduled_for": "2025-11-03T09:00:00Z", "kind": "virtual", "x": 1}, "x"),
        ({"audit_id": "A\x00", "scheduled_for": "2025-11-03T09:00:00Z", "kind": "virtual"}, "audit_id"),
    ],
)
def test_declared_payloads_are_refused_at_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        payload_model("audit.booked").model_validate(payload)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_an_event_of_a_declared_customer_type_names_its_customer() -> None:
    event = {
        "event_id": str(uuid.uuid4()),
        "type": "audit.booked",
        "occurred_at": "2025-11-01T10:00:00Z",
        "source": "crm",
    }
    with pytest.raises(ValidationError, match="customer_id"):
        NewEvent.model_validate(event)
    assert NewEvent.model_validate({**event, "customer_id": "C-1"}).customer_id == "C-1"


def test_redefining_a_built_in_or_an_engine_type_is_refused_where_it_is_written(tmp_path: Path) -> None:
    directory = declare(
        tmp_path,
        a="bill.past_due:\n  fields: {amount_due: {type: number}}\nbill.issued:\n  fields: {}\n",
        b="# the engine's\njourney.followed_up: {}\nbill.past_due: {}\nBill Due: {}\n",
    )
    assert "bill.issued" in EVENT_TYPES
    found = problems(directory)
    assert found[0].startswith(f"{directory / 'a.yaml'}:3:1: `bill.issued` is a built-in event type")
    assert found[1].startswith(f"{directory / 'b.yaml'}:2:1: `journey.followed_up`: journey.*")
    assert found[2].startswith(f"{directory / 'b.yaml'}:3:1: `bill.past_due` is declared twice (also in")
    assert found[3].startswith(f"{directory / 'b.yaml'}:4:1: `Bill Due` is not an event type name")
    assert len(found) == 4


def test_mistakes_in_a_declaration_get_a_did_you_mean(tmp_path: Path) -> None:
    directory = declare(
        tmp_path,
        a="audit.booked:\n  fields:\n    when: {type: timestmp}\n    where: {typ: string, type: string}\n",
    )
    found = problems(directory)
    assert found == [
        f"{directory / 'a.yaml'}:3:18: audit.booked.fields.when.type: `timestmp` is not allowed (hint: did "
        "you mean `timestamp`? use one of: boolean, integer, number, string, timestamp)",
        f"{directory / 'a.yaml'}:4:13: unknown key `typ` (hint: did you mean `type`? keys: description, "
        "required, type, values)",
    ]


def test_no_folder_declares_nothing(tmp_path: Path) -> None:
    assert load_declared_events(tmp_path / "missing").models == {}


def test_a_declaration_file_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    """Read where the API and the workers load them too, not only in `journeys validate` (a Latin-1
    file was a UnicodeDecodeError at start-up)."""
    (tmp_path / "billing.yaml").write_bytes(b"bill.past_due:\n  description: Factura vencida \xa1\n")
    [problem] = problems(tmp_path)
    assert problem.startswith(f"{tmp_path / 'billing.yaml'}:2:32: not UTF-8 (byte 0xa1)")
