"""Journey files, declarations and expressions as a hostile (or unlucky) user writes them: saved as
Latin-1, UTF-16 or with a byte-order mark, an expression nested thousands deep or tens of thousands
of characters long. `journeys validate` gives one located line per problem and checks every file of a
folder; no door answers with a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridjourney.cli.journeys import journeys_app
from gridjourney.config import get_settings
from gridjourney.dsl.expression_bounds import BOUNDS_HINT, MAX_EXPRESSION_DEPTH
from gridjourney.dsl.expressions import ExpressionError, check_condition, evaluate
from gridjourney.dsl.loader import JourneyErrors, journey_text, load_journey_file

runner = CliRunner()
GOOD = "id: good\npurpose: informational\ntrigger: bill.issued\nsteps:\n  - {id: e, end: true}\n"
DEEP = "-" * 5000 + "event.amount > 1"
MANY_TERMS = "+".join(["1"] * 20_000) + " > event.amount"


def journey_with(condition: str, journey_id: str = "deep") -> str:
    return GOOD.replace("id: good", f"id: {journey_id}").replace(
        "trigger: bill.issued", f'trigger:\n  event: bill.issued\n  when: "{condition}"'
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(journeys_app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        (DEEP, f"expression nested too deeply (too many levels; at most {MAX_EXPRESSION_DEPTH})"),
        (
            "-" * 150 + "event.amount > 1",
            f"expression nested too deeply (155 levels; at most {MAX_EXPRESSION_DEPTH})",
        ),
        ("event.amount in " + "[" * 150 + "1" + "]" * 150, "expression nested too deeply (153 levels"),
        (MANY_TERMS, "expression too long: 40,014 characters, at most 20,000"),
        ("+".join(["1"] * 5000) + " > event.amount", "expression nested too deeply"),
    ],
    ids=["5000 signs", "150 signs", "150 lists", "20000 terms", "5000 terms"],
)
def test_an_expression_beyond_the_bounds_is_one_clear_problem(expr: str, problem: str) -> None:
    [found] = check_condition(expr, {"event": None})
    assert found.startswith(problem)
    with pytest.raises(ExpressionError, match="too"):  # and at run time, a failing condition
        evaluate(expr, {"event": {"amount": 2}})


def test_a_long_flat_expression_within_the_bounds_is_fine() -> None:
    flat = " or ".join(f"event.amount == {n}" for n in range(500))  # 10 KB, a few levels deep
    assert check_condition(flat, {"event": None}) == []
    assert evaluate(flat, {"event": {"amount": 499}}) is True
    nested = "-" * (MAX_EXPRESSION_DEPTH - 5) + "event.amount > 1"
    assert check_condition(nested, {"event": None}) == []


def test_validate_checks_every_file_of_a_folder_one_line_per_problem(tmp_path: Path) -> None:
    (tmp_path / "a_latin1.yaml").write_bytes(GOOD.replace("good", "latin").encode() + b"name: caf\xe9\n")
    (tmp_path / "b_utf16.yaml").write_bytes(GOOD.replace("good", "wide").encode("utf-16"))
    (tmp_path / "c_deep.yaml").write_text(journey_with(DEEP))
    (tmp_path / "d_terms.yaml").write_text(journey_with(MANY_TERMS, "terms"))
    (tmp_path / "e_bom_crlf.yaml").write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    (tmp_path / "f_good.yaml").write_text(GOOD.replace("good", "fine"))
    code, out, err = invoke("validate", str(tmp_path), "--templates", str(tmp_path))
    assert code == 1 and "Traceback" not in out + err
    lines = err.splitlines()
    assert lines[0] == (
        f"{tmp_path / 'a_latin1.yaml'}:6:10: not UTF-8 (byte 0xe9) "
        "(hint: save the file as UTF-8 (in most editors: Save with Encoding, UTF-8))"
    )
    assert lines[1].startswith(f"{tmp_path / 'b_utf16.yaml'}:1:1: not UTF-8 (byte 0xff)")
    assert lines[2].startswith(f"{tmp_path / 'c_deep.yaml'}:5:9: expression '-----")
    assert "expression nested too deeply" in lines[2] and len(lines[2]) < 600
    assert lines[2].endswith(f"(hint: {BOUNDS_HINT})") and "split it over `branch` steps" in BOUNDS_HINT
    assert lines[3].startswith(f"{tmp_path / 'd_terms.yaml'}:5:9: ") and "expression too long" in lines[3]
    assert len(lines) == 4
    assert out.splitlines() == [
        f"{tmp_path / 'e_bom_crlf.yaml'}: OK (good, 1 step, informational)",
        f"{tmp_path / 'f_good.yaml'}: OK (fine, 1 step, informational)",
    ]


def test_publish_preview_and_backtest_refuse_a_file_that_is_not_utf8_in_one_line(tmp_path: Path) -> None:
    journey = tmp_path / "latin.yaml"
    journey.write_bytes(b"id: latin\nname: caf\xe9\n")
    expected = f"{journey}:2:10: not UTF-8 (byte 0xe9)"
    for args in (
        ["publish", str(journey)],
        ["preview", str(journey)],
        ["backtest", str(journey), "--from", "2026-01-01", "--to", "2026-01-31"],
    ):
        code, _, err = invoke(*args, "--templates", str(tmp_path))
        assert code == 1 and err.startswith(expected) and len(err.splitlines()) == 1, (args, err)
    with pytest.raises(JourneyErrors, match=r"latin.yaml:2:10: not UTF-8 \(byte 0xe9\)"):
        load_journey_file(journey)


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """The settings read again after each change of the environment (and after the test)."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_declarations_that_are_not_utf8_are_located(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_settings: None
) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "billing.yaml").write_bytes(
        b"bill.past_due:\n  description: Factura vencida \xa1\n  fields: {}\n"
    )
    (tmp_path / "good.yaml").write_text(GOOD)
    monkeypatch.setenv("GRIDJOURNEY_EVENTS_DIR", str(events))
    get_settings.cache_clear()
    code, _, err = invoke("validate", str(tmp_path / "good.yaml"), "--templates", str(tmp_path))
    assert code == 1
    assert err.splitlines()[0].startswith(f"{events / 'billing.yaml'}:2:32: not UTF-8 (byte 0xa1)")

    attributes = tmp_path / "customer_attributes.yaml"
    attributes.write_bytes(b"attributes:\n  heating: {type: string, description: \x93gas\x94}\n")
    monkeypatch.setenv("GRIDJOURNEY_EVENTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("GRIDJOURNEY_CUSTOMER_ATTRIBUTES_FILE", str(attributes))
    get_settings.cache_clear()
    code, _, err = invoke("validate", str(tmp_path / "good.yaml"), "--templates", str(tmp_path))
    assert code == 1
    assert err.splitlines()[0].startswith(f"{attributes}:2:40: not UTF-8 (byte 0x93)")


@pytest.mark.parametrize(
    ("customer", "message"),
    [
        ('{"name": "\\ud800"}', "--customer: `name` contains a lone UTF-16 surrogate (not valid Unicode)"),
        ('{"plan": {"t": ["a\\u0000"]}}', "--customer: `plan.t[0]` contains a NUL character (\\u0000)"),
        ("FILE", "--customer {file}:1:13: not UTF-8 (byte 0xeb)"),
    ],
    ids=["surrogate", "nul", "latin-1 file"],
)
def test_preview_refuses_a_customer_it_cannot_print_in_one_line(
    tmp_path: Path, customer: str, message: str
) -> None:
    journey = tmp_path / "good.yaml"
    journey.write_text(GOOD)
    file = tmp_path / "customer.json"
    file.write_bytes(b'{"name": "Zo\xeb"}')
    option = str(file) if customer == "FILE" else customer
    code, _, err = invoke("preview", str(journey), "--templates", str(tmp_path), "--customer", option)
    assert code == 2 and err == f"{journey}: {message.format(file=file)}\n"


def test_a_journey_file_is_read_as_python_reads_text_files(tmp_path: Path) -> None:
    journey = tmp_path / "windows.yaml"
    journey.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    assert journey_text(journey) == GOOD  # no byte-order mark, and `\n` line ends (as stored before)
