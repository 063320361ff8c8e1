"""A batch's template look-ups (content/render.py TemplateLookups): every message of a batch renders
from the templates as its first message found them, and gives what a rendering without them gives."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from gridjourney.content import TemplateLookups, TemplateProblem, render

EMAIL = "Subject: Hello {{ customer.name }}\nHi {{ customer.name }},\n\n- one\n- two\n"
LAYOUT = "<html><body>{% for block in blocks %}<{{ block.kind }}>{% endfor %}{{ subject }}</body></html>"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    # A later modification time than the file had: Jinja reloads on a changed mtime.
    later = time.time() + 10 + len(text)
    os.utime(path, (later, later))


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    write(tmp_path / "email" / "en" / "t.j2", EMAIL)
    write(tmp_path / "email" / "layout.html.j2", LAYOUT)
    write(tmp_path / "sms" / "es" / "t.j2", "Hola {{ customer.name }}")
    write(tmp_path / "sms" / "en" / "t.j2", "Hi {{ customer.name }}")
    return tmp_path


def test_a_batch_renders_what_single_renderings_give(templates: Path) -> None:
    lookups = TemplateLookups()
    for name in ("Ana", "<b>Bo</b>", "José"):
        for channel, locale in (("email", "en"), ("email", "es-MX"), ("sms", "es"), ("sms", "fr")):
            variables = {"customer": {"name": name}}
            alone = render(templates, channel, "t", locale, variables)
            assert render(templates, channel, "t", locale, variables, lookups) == alone


def test_a_batch_keeps_the_templates_its_first_message_found(templates: Path) -> None:
    lookups = TemplateLookups()
    variables = {"customer": {"name": "Ana"}}
    first = render(templates, "email", "t", "en", variables, lookups)
    assert render(templates, "sms", "t", "es", variables, lookups).body == "Hola Ana"
    write(templates / "email" / "en" / "t.j2", EMAIL.replace("Hi", "Hello again"))
    write(templates / "email" / "en" / "t.html.j2", "<p>own page</p>")
    (templates / "sms" / "es" / "t.j2").unlink()
    assert render(templates, "email", "t", "en", variables, lookups) == first
    assert render(templates, "sms", "t", "es", variables, lookups).body == "Hola Ana"
    # The next batch, and a rendering without one, read the files as they are now.
    for fresh in (TemplateLookups(), None):
        changed = render(templates, "email", "t", "en", variables, fresh)
        assert changed.body.startswith("Hello again Ana") and changed.html == "<p>own page</p>"
        assert render(templates, "sms", "t", "es", variables, fresh).body == "Hi Ana"


def test_a_template_a_batch_did_not_find_stays_missing(templates: Path) -> None:
    lookups = TemplateLookups()
    with pytest.raises(TemplateProblem, match="no template 'other'"):
        render(templates, "sms", "other", "en", {}, lookups)
    write(templates / "sms" / "en" / "other.j2", "now here")
    with pytest.raises(TemplateProblem, match="no template 'other'"):
        render(templates, "sms", "other", "en", {}, lookups)
    assert render(templates, "sms", "other", "en", {}, TemplateLookups()).body == "now here"
