"""Templates as people save them: Windows-1252 or Latin-1 instead of UTF-8, a byte-order mark, CRLF
line ends, brackets nested thousands deep. Each is a located error or works; none is a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gridjourney.content import TemplateProblem, render, template_purpose, template_reads, template_variables
from gridjourney.content.template_source import NotUtf8, decode_text

CONTEXT: dict[str, Any] = {
    "customer": {"customer_id": "c1", "name": "Ana", "locale": "en"},
    "event": {"amount": 12.5},
    "journey": {"id": "j", "version": 1},
}


def write(root: Path, relative: str, data: bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_a_curly_quote_from_word_is_located_at_its_line_and_column(tmp_path: Path) -> None:
    write(tmp_path, "email/en/notice.j2", b"Subject: Hello\nIt\x92s time, {{ customer.name }}\n")
    with pytest.raises(TemplateProblem) as raised:
        render(tmp_path, "email", "notice", "en", CONTEXT)
    assert str(raised.value) == "email/en/notice.j2:2:3: not UTF-8 (byte 0x92)"
    assert raised.value.unreadable and raised.value.where == "email/en/notice.j2:2:3"


def test_the_variables_check_locates_a_latin_1_template(tmp_path: Path) -> None:
    write(tmp_path, "sms/es/aviso.j2", "Hola {{ customer.name }}, ¿qué tal?".encode("latin-1"))
    with pytest.raises(TemplateProblem) as raised:
        template_variables(tmp_path, "sms", "aviso", "es")
    assert str(raised.value) == "sms/es/aviso.j2:1:27: not UTF-8 (byte 0xbf)"


def test_a_purpose_line_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    write(tmp_path, "sms/en/outage.j2", b"Purpose: safety\xa0\nPower is out\n")
    with pytest.raises(TemplateProblem, match=r"^sms/en/outage.j2:1:16: not UTF-8 \(byte 0xa0\)$"):
        template_purpose(tmp_path, "sms", "outage", "en")


def test_the_column_counts_characters_not_bytes() -> None:
    with pytest.raises(NotUtf8) as raised:
        decode_text("ééé".encode() + b"\xff", "f.j2")
    assert (raised.value.line, raised.value.column, raised.value.byte) == (1, 4, 0xFF)


def test_a_byte_order_mark_and_crlf_line_ends_render_as_plain_utf8(tmp_path: Path) -> None:
    write(tmp_path, "email/en/bom.j2", b"\xef\xbb\xbfSubject: Hi {{ customer.name }}\r\n\r\nBody\r\n")
    write(tmp_path, "sms/en/bom.j2", b"\xef\xbb\xbfPurpose: safety\r\nOut: {{ customer.name }}\r\n")
    email = render(tmp_path, "email", "bom", "en", CONTEXT)
    assert (email.subject, email.body) == ("Hi Ana", "Body")
    assert render(tmp_path, "sms", "bom", "en", CONTEXT).body == "Out: Ana"
    assert template_purpose(tmp_path, "sms", "bom", "en") == "safety"


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
        "{{ " + "-" * 5000 + "1 }}",
        "{{ " + "+".join(["1"] * 20_000) + " }}",
        "{% if 1 %}" * 2000 + "x" + "{% endif %}" * 2000,
    ],
    ids=["brackets", "signs", "terms", "blocks"],
)
def test_a_template_nested_thousands_deep_is_a_problem_not_a_recursion_error(
    tmp_path: Path, source: str
) -> None:
    write(tmp_path, "sms/en/deep.j2", source.encode())
    with pytest.raises(TemplateProblem, match=r"^sms/en/deep.j2:\d+: "):
        template_variables(tmp_path, "sms", "deep", "en")
    with pytest.raises(TemplateProblem, match=r"^sms/en/deep.j2:\d+: "):
        render(tmp_path, "sms", "deep", "en", CONTEXT)


def test_a_render_error_names_the_templates_own_line(tmp_path: Path) -> None:
    write(tmp_path, "sms/en/late.j2", b"Hello {{ customer.name }}\n\n{{ customer.nickname }}\n")
    with pytest.raises(TemplateProblem) as raised:
        render(tmp_path, "sms", "late", "en", CONTEXT)
    assert raised.value.where == "sms/en/late.j2:3"
    assert "nickname" in raised.value.reason


def test_what_a_template_reads_comes_with_the_line_it_is_first_read_on(tmp_path: Path) -> None:
    source = b"Hi {{ customer.name }}\n{% if event.amount %}\n{{ event.amount }} {{ x }}\n{% endif %}\n"
    write(tmp_path, "sms/en/lines.j2", source)
    assert template_reads(tmp_path, "sms", "lines", "en") == {"customer.name": 1, "event.amount": 2, "x": 3}


def test_a_macro_that_calls_itself_is_a_problem_at_render_time(tmp_path: Path) -> None:
    write(tmp_path, "sms/en/loop.j2", b"Hi\n{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
    with pytest.raises(TemplateProblem, match=r"^sms/en/loop.j2:2: maximum recursion depth exceeded"):
        render(tmp_path, "sms", "loop", "en", CONTEXT)
