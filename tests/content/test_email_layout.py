"""The email layout rendered once per shape (content/email_layout.py) gives exactly what Jinja gives
rendering it per email, and a layout that reads anything more is rendered per email."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from gridjourney.content import email_layout
from gridjourney.content.email_layout import render_shaped, shaped_source
from gridjourney.content.render import BARE_LAYOUT, EMAIL_LAYOUT, html_environment, render_html, text_blocks

SHIPPED = Path(__file__).parents[2] / "templates"
ENV = html_environment(str(SHIPPED.resolve()))
LINES = "{% for block in blocks %}{% for line in block.lines %}{{ line }}{% endfor %}{% endfor %}"
LAYOUTS = {
    "shipped": (SHIPPED / EMAIL_LAYOUT).read_text(),
    "bare": BARE_LAYOUT,
    # Lines printed twice, the loop's counters, kinds compared and printed, for-else, a conditional.
    "busy": "{% for block in blocks %}<{{ block.kind }} n={{ loop.index }}/{{ loop.length }}>"
    "{% for line in block.lines %}{{ line }}|{{ line }}{% if loop.first %}!{% endif %}"
    "{% endfor %}{% else %}empty {{ subject }}{% endfor %}{{ 'L' if locale == 'es' else 'X' }}",
}
BODIES = [
    "",
    "Hi Ana,",
    "  leading and trailing spaces  ",
    "Hi <b>José</b> & \"friends\" 'all',\n\nA Peak Time Rewards event:\n\n"
    "- pre-cool\n- wait\n\nThanks\nCascade",
    "- a list first\n- then\ntext right after\n\n\n\n- another list",
    "one\ntwo\nthree\n\nfour",
]


def jinja_render(source: str, subject: str | None, locale: str, body: str) -> str:
    context: dict[str, Any] = {"subject": subject, "locale": locale, "blocks": text_blocks(body)}
    return ENV.from_string(source).render(context).strip()


def shaped_render(source: str, subject: str | None, locale: str, body: str) -> str | None:
    layout = shaped_source(ENV, source)
    assert layout is not None, "the layout should fit"
    return render_shaped(layout, subject, locale, text_blocks(body))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("subject", ["Peak Time Rewards event", '<Tom & Jerry\'s> "deal"', None])
def test_a_fitting_layout_renders_as_jinja_does(layout: str, body: str, subject: str | None) -> None:
    source = LAYOUTS[layout]
    for locale in ("en", "es"):
        assert shaped_render(source, subject, locale, body) == jinja_render(source, subject, locale, body)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.one_of(st.sampled_from(["", "- ", "  ", "<", "&amp;", "\t", "\r"]), st.text(max_size=12)),
        max_size=12,
    ),
    subject=st.text(max_size=20),
)
def test_any_text_renders_as_jinja_does(lines: list[str], subject: str) -> None:
    body = "\n".join(lines)
    for source in LAYOUTS.values():
        assert shaped_render(source, subject, "en", body) == jinja_render(source, subject, "en", body)


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer.name }}" + LINES,
        "{% for block in blocks %}{% for line in block.lines %}{{ line | upper }}{% endfor %}{% endfor %}",
        "{% for block in blocks %}{% for line in block.lines %}{{ line[0] }}{% endfor %}{% endfor %}",
        "{% for block in blocks %}{% for line in block.lines if line %}{{ line }}{% endfor %}{% endfor %}",
        "{% for block in blocks %}{% if block.lines %}x{% endif %}{% endfor %}",
        "{% for block in blocks %}{{ block.lines }}{% endfor %}",
        "{% for block in blocks %}{{ block }}{% endfor %}",
        "{{ blocks }}",
        "{{ subject.upper }}",
        "{% for block in blocks %}{{ loop.cycle('a', 'b') }}{% endfor %}",
        "{% autoescape false %}{% for block in blocks %}{% for line in block.lines %}{{ line }}{% endfor %}"
        "{% endfor %}{% endautoescape %}",
        "{% set subject = 'x' %}{{ subject }}",
        "{% include 'email/layout.html.j2' %}",
        "{% for block in blocks recursive %}{{ block.kind }}{% endfor %}",
        "{% for block in blocks %}{% for line in block.lines %}{% if line == 'x' %}!{% endif %}{% endfor %}"
        "{% endfor %}",
        "{{ loop.index }}",
    ],
)
def test_a_layout_reading_more_than_the_shape_is_rendered_per_email(source: str) -> None:
    assert shaped_source(ENV, source) is None


def write_templates(root: Path, layout: str) -> Path:
    for name, text in {
        "email/en/notice.j2": "Subject: Outage <update>\nHi {{ customer.name }},\n\n"
        "- crews are on site\n- ETR 6 PM",
        EMAIL_LAYOUT: layout,
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    "layout",
    [
        LAYOUTS["shipped"],
        "<p>{{ customer.name }}</p>" + LINES,
    ],
)
def test_render_html_gives_what_jinja_gives_whether_or_not_the_layout_fits(
    tmp_path: Path, layout: str
) -> None:
    root = write_templates(tmp_path, layout)
    variables = {"customer": {"name": "Ana & <Bo>"}}
    body = "Hi Ana & <Bo>,\n\n- crews are on site\n- ETR 6 PM"
    expected = (
        html_environment(str(root.resolve()))
        .from_string(layout)
        .render({**variables, "subject": "Outage <update>", "locale": "en", "blocks": text_blocks(body)})
        .strip()
    )
    for _ in range(2):  # the second from the shape's cache
        assert render_html(root, "notice", "en", variables, "Outage <update>", body) == expected


def test_a_changed_layout_file_is_read_again(tmp_path: Path) -> None:
    root = write_templates(tmp_path, LAYOUTS["shipped"])
    first = render_html(root, "notice", "en", {}, "S", "Hi")
    (root / EMAIL_LAYOUT).write_text(f"<main>{LINES}</main>")
    # Jinja's loader notices the newer file by its modification time.
    later = (root / EMAIL_LAYOUT).stat().st_mtime + 10
    os.utime(root / EMAIL_LAYOUT, (later, later))
    assert first.startswith("<!DOCTYPE html>")
    assert render_html(root, "notice", "en", {}, "S", "Hi") == "<main>Hi</main>"


def test_a_subject_holding_the_marker_is_rendered_per_email() -> None:
    layout = shaped_source(ENV, LAYOUTS["busy"])
    assert layout is not None
    subject = f"{email_layout._MARK}0e"
    assert render_shaped(layout, subject, "en", text_blocks("Hi")) is None


def blocks_as_before(body: str) -> list[dict[str, Any]]:
    """text_blocks as it was written first (regex, splitlines and groupby): the reference."""
    blocks: list[dict[str, Any]] = []
    for paragraph in re.split(r"\n\s*\n", body):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        for is_item, run in itertools.groupby(lines, key=lambda line: line.startswith("- ")):
            if is_item:
                blocks.append({"kind": "list", "lines": [line.removeprefix("- ") for line in run]})
            else:
                blocks.append({"kind": "paragraph", "lines": list(run)})
    return blocks


@pytest.mark.parametrize("body", BODIES)
def test_text_blocks_cut_as_before(body: str) -> None:
    assert text_blocks(body) == blocks_as_before(body)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["", "- ", "-", "--", " - x", "- a", "\t", "\r", "\x0b", "\x1c", "\u2028", "  "]),
            st.text(max_size=8),
        ),
        max_size=16,
    )
)
def test_any_text_is_cut_as_before(parts: list[str]) -> None:
    body = "\n".join(parts)
    assert text_blocks(body) == blocks_as_before(body)


@pytest.mark.parametrize(
    "lines",
    [["a\nb", "<c>"], [Markup("<i>kept</i>"), "<escaped>"], ["", "&", "\n"], [3, "x"]],
    ids=["line_break", "markup", "blank_and_break", "not_text"],
)
def test_lines_that_cannot_be_escaped_together_are_escaped_one_by_one(lines: list[Any]) -> None:
    # Lines are escaped in one call joined by line breaks (email_layout._escaped), except these.
    blocks = [{"kind": "paragraph", "lines": lines}]
    context = {"subject": "s", "locale": "en", "blocks": blocks}
    for source in LAYOUTS.values():
        layout = shaped_source(ENV, source)
        assert layout is not None
        assert render_shaped(layout, "s", "en", blocks) == ENV.from_string(source).render(context).strip()
