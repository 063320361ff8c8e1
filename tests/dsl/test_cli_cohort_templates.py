"""`gridjourney journeys validate` refuses a cohort journey whose template reads a personal field of
the run's event (dsl/cohort_personal_checks.py, called by the compiler's template checks), at the
send's file:line:column, naming the template's own line: the router strips those fields from the
events a shared cohort run gets, so the message would go out without them."""

from __future__ import annotations

from pathlib import Path

from tests.dsl.test_cli_journeys import invoke
from tests.dsl.test_cohort_personal_checks import PREMISE_HEAD

JOURNEY = PREMISE_HEAD + "  - id: hello\n    send: {channels: [sms], template: hello}\n"


def templates(root: Path, spanish: str) -> Path:
    for locale, text in (("en", "Power is back at {{ event.premise_id }}.\n"), ("es", spanish)):
        (root / "sms" / locale).mkdir(parents=True, exist_ok=True)
        (root / "sms" / locale / "hello.j2").write_text(text, encoding="utf-8")
    return root


def test_validate_refuses_a_cohort_template_reading_a_personal_field(tmp_path: Path) -> None:
    journey = tmp_path / "run.yaml"
    journey.write_text(JOURNEY, encoding="utf-8")
    folder = templates(tmp_path / "templates", "Hola\n{{ event.name }}, {{ customer.name }}\n")
    code, out, err = invoke("validate", str(journey), "--templates", str(folder))
    assert (code, out) == (1, ""), out + err
    assert err.splitlines() == [
        f"{journey}:11:39: template sms/es/hello.j2:2 reads `event.name`, personal data, which a cohort "
        "run never gets (hint: a cohort run is shared by its members and outlives their erasure: it gets "
        "events without their personal fields; read them in a per_customer journey)"
    ]


def test_validate_accepts_the_members_own_name_from_their_profile(tmp_path: Path) -> None:
    journey = tmp_path / "run.yaml"
    journey.write_text(JOURNEY, encoding="utf-8")
    folder = templates(tmp_path / "templates", "Hola {{ customer.name }}: {{ event.premise_id }}\n")
    code, out, err = invoke("validate", str(journey), "--templates", str(folder))
    assert code == 0, err
    assert out.startswith(f"{journey}: OK (")
