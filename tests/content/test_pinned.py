"""Rendering from a version's pinned templates (content/pinned.py) as from a folder: the same message,
the locale fallback, the email's HTML part, a failing line named, and nothing read from the folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridjourney.content import TemplateProblem, render, template_exists, template_locales
from gridjourney.content.pinned import MAX_TEMPLATE_BYTES, PinnedTemplates, collect, send_paths
from gridjourney.content.render import text_environment

FILES = {
    "sms/en/alert.j2": 'Hi {{ customer.name }}. {% include "parts/sign.j2" %}',
    "sms/es/alert.j2": "Hola {{ customer.name }}.",
    "email/en/alert.j2": "Subject: Bill for {{ customer.name }}\n\nHi {{ customer.name }}.\n\n- one\n- two",
    "email/es/alert.j2": "Subject: Factura\n\nHola.",
    "email/es/alert.html.j2": "<p>Hola {{ customer.name }}</p>",
    "email/layout.html.j2": "<h1>{{ subject }}</h1>{% for block in blocks %}{{ block.kind }}{% endfor %}",
    "parts/sign.j2": "Your utility",
    "sms/en/broken.j2": "line one\n{{ customer.nickname }}",
}
CONTEXT = {"customer": {"name": "<Ana>"}, "event": {}, "journey": {"id": "j", "version": 1}}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def pinned_from(folder: Path, *sends: tuple[str, str]) -> PinnedTemplates:
    roots = [path for channel, name in sends for path in send_paths(folder, channel, name)]
    sources, problems = collect(text_environment(folder), roots)
    assert problems == []
    return PinnedTemplates(sources, "j version 1")


@pytest.mark.parametrize(
    ("channel", "locale"), [("sms", "en"), ("sms", "es-MX"), ("sms", "fr"), ("email", "en"), ("email", "es")]
)
def test_pinned_templates_render_as_the_folder_does(folder: Path, channel: str, locale: str) -> None:
    pinned = pinned_from(folder, ("sms", "alert"), ("email", "alert"))
    assert render(pinned, channel, "alert", locale, CONTEXT) == render(
        folder, channel, "alert", locale, CONTEXT
    )


def test_pinned_templates_are_read_from_the_version_not_the_folder(folder: Path) -> None:
    pinned = pinned_from(folder, ("sms", "alert"), ("email", "alert"))
    for name in FILES:
        (folder / name).write_text("Subject: edited\n\nedited", encoding="utf-8")
    (folder / "email/en/alert.html.j2").write_text("<p>a new HTML part</p>", encoding="utf-8")
    sms = render(pinned, "sms", "alert", "en", CONTEXT)
    assert sms.body == "Hi <Ana>. Your utility"
    email = render(pinned, "email", "alert", "en", CONTEXT)
    assert email.subject == "Bill for <Ana>"
    assert email.html == "<h1>Bill for &lt;Ana&gt;</h1>paragraphlist"  # the pinned layout, escaped
    assert template_exists(pinned, "email", "alert", "es") and not template_exists(pinned, "push", "alert")
    assert template_locales(pinned, "email", "alert") == ["en", "es"]


def test_a_pinned_template_that_fails_names_its_line(folder: Path) -> None:
    pinned = pinned_from(folder, ("sms", "broken"))
    with pytest.raises(TemplateProblem) as failed:
        render(pinned, "sms", "broken", "en", CONTEXT)
    assert failed.value.where == "sms/en/broken.j2:2"
    with pytest.raises(
        TemplateProblem, match=r"no template 'absent' for sms; .* the templates pinned by j version 1"
    ):
        render(pinned, "sms", "absent", "en", CONTEXT)


def test_collect_leaves_out_a_missing_reference_and_locates_a_computed_one(folder: Path) -> None:
    (folder / "sms/en/alert.j2").write_text(
        '{% include "parts/none.j2" ignore missing %}\n{% import customer.macros as m %}', encoding="utf-8"
    )
    sources, problems = collect(text_environment(folder), ["sms/en/alert.j2"])
    assert list(sources) == ["sms/en/alert.j2"]
    assert [(p.where, p.reason.split("`")[1]) for p in problems] == [("sms/en/alert.j2:2", "{% import %}")]


def problems_of(folder: Path, text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """What `collect` pins and refuses when sms/en/alert.j2 reads `text`."""
    (folder / "sms/en/alert.j2").write_text(text, encoding="utf-8")
    sources, problems = collect(text_environment(folder), ["sms/en/alert.j2"])
    return sorted(sources), [(p.where, p.reason) for p in problems]


@pytest.mark.parametrize(
    ("reference", "tag", "missing"),
    [
        ('{% include "sms/en/parts/gone.j2" %}', "include", "sms/en/parts/gone.j2"),
        ('{% include "../../../../../etc/passwd" %}', "include", "../../../../../etc/passwd"),
        ('{% extends "parts/page.j2" %}', "extends", "parts/page.j2"),
        ('{% import "parts/macros.j2" as m %}', "import", "parts/macros.j2"),
        ('{% from "parts/macros.j2" import sign %}', "from ... import", "parts/macros.j2"),
    ],
)
def test_a_reference_to_a_template_that_does_not_exist_is_a_problem_at_its_line(
    folder: Path, reference: str, tag: str, missing: str
) -> None:
    pinned, problems = problems_of(folder, f"Hi.\n{reference}\n")
    assert pinned == ["sms/en/alert.j2"]
    assert problems == [
        (
            "sms/en/alert.j2:2",
            f'`{{% {tag} %}}` names "{missing}", which does not exist in the templates folder',
        )
    ]


def test_a_reference_is_looked_for_in_the_template_it_reaches_too(folder: Path) -> None:
    (folder / "parts/sign.j2").write_text('Your utility\n\n{% include "parts/gone.j2" %}', encoding="utf-8")
    pinned, problems = problems_of(folder, '{% include "parts/sign.j2" %}')
    assert pinned == ["parts/sign.j2", "sms/en/alert.j2"]
    assert [where for where, _ in problems] == ["parts/sign.j2:3"]


def test_a_deleted_include_is_a_problem_and_its_return_mends_it(folder: Path) -> None:
    (folder / "parts/sign.j2").unlink()
    assert problems_of(folder, FILES["sms/en/alert.j2"])[1] == [
        (
            "sms/en/alert.j2:1",
            '`{% include %}` names "parts/sign.j2", which does not exist in the templates folder',
        )
    ]
    (folder / "parts/sign.j2").write_text("Your utility", encoding="utf-8")
    assert problems_of(folder, FILES["sms/en/alert.j2"]) == (["parts/sign.j2", "sms/en/alert.j2"], [])


@pytest.mark.parametrize(
    ("reference", "pinned"),
    [
        ('{% include "parts/gone.j2" ignore missing %}', []),
        ('{% include ["parts/gone.j2", "../outside.j2"] ignore missing %}', []),
        ('{% include ["parts/gone.j2", "parts/sign.j2"] %}', ["parts/sign.j2"]),
        (
            '{% include ("parts/sign.j2", "sms/es/alert.j2", "parts/gone.j2") %}',
            ["parts/sign.j2", "sms/es/alert.j2"],
        ),
    ],
)
def test_an_optional_include_or_a_list_one_of_whose_names_exists_is_pinned(
    folder: Path, reference: str, pinned: list[str]
) -> None:
    assert problems_of(folder, f"Hi. {reference}") == (sorted(["sms/en/alert.j2", *pinned]), [])


def test_a_list_include_none_of_whose_names_exists_is_a_problem(folder: Path) -> None:
    assert problems_of(folder, 'Hi. {% include ["parts/gone.j2", "/etc/passwd"] %}')[1] == [
        (
            "sms/en/alert.j2:1",
            '`{% include %}` names "parts/gone.j2", "/etc/passwd", none of which exists in the '
            "templates folder",
        )
    ]


def test_a_template_past_the_size_bound_is_a_problem_and_is_not_parsed(folder: Path) -> None:
    at_the_bound = "x" * (MAX_TEMPLATE_BYTES - 2) + "é"  # 2 bytes in UTF-8: exactly the bound
    (folder / "parts/sign.j2").write_text(at_the_bound, encoding="utf-8")
    assert problems_of(folder, FILES["sms/en/alert.j2"]) == (["parts/sign.j2", "sms/en/alert.j2"], [])

    # one byte more, and an unclosed tag the parser would report: the size is said, the parse not tried
    (folder / "parts/sign.j2").write_text("{% if " + at_the_bound[6:] + "é", encoding="utf-8")
    assert problems_of(folder, FILES["sms/en/alert.j2"]) == (
        ["sms/en/alert.j2"],
        [("parts/sign.j2", "65,538 bytes, more than the 65,536 (64 KiB) a template may have")],
    )


def test_only_folders_a_customer_locale_can_name_are_pinned(folder: Path) -> None:
    # A backup folder or a typo is never rendered (a customer's locale is a language tag), so a version
    # does not pin it (a reviewer saw `sms/.hidden/` and `sms/e n/` listed as added templates).
    for odd in (".hidden", "e n", "EN_backup"):
        (folder / "sms" / odd).mkdir()
        (folder / "sms" / odd / "alert.j2").write_text("never sent")
    (folder / "sms" / "pt-BR").mkdir()
    (folder / "sms" / "pt-BR" / "alert.j2").write_text("Olá")
    assert send_paths(folder, "sms", "alert") == ["sms/en/alert.j2", "sms/es/alert.j2", "sms/pt-BR/alert.j2"]


def test_a_template_that_reaches_itself_again_is_a_problem_and_a_shared_part_is_not(folder: Path) -> None:
    # A send of it would recurse until Python gives up, for every message of the version, for good.
    parts = {
        "sms/en/self.j2": 'x {% include "sms/en/self.j2" %}',
        "sms/en/a.j2": 'a\n{% include "sms/en/b.j2" %}',
        "sms/en/b.j2": 'b {% include "sms/en/a.j2" %}',
        "sms/en/diamond.j2": '{% include "sms/en/left.j2" %}{% include "sms/en/right.j2" %}',
        "sms/en/left.j2": '{% include "sms/en/shared.j2" %}',
        "sms/en/right.j2": '{% include "sms/en/shared.j2" %}',
        "sms/en/shared.j2": "the same footer twice is fine",
    }
    for name, text in parts.items():
        (folder / name).write_text(text)
    environment = text_environment(folder)
    _, problems = collect(environment, ["sms/en/self.j2", "sms/en/a.j2"])
    assert sorted((problem.where, problem.reason.split(" (")[1]) for problem in problems) == [
        ("sms/en/b.j2:1", "sms/en/a.j2 → sms/en/b.j2 → sms/en/a.j2): it would render without end"),
        ("sms/en/self.j2:1", "sms/en/self.j2 → sms/en/self.j2): it would render without end"),
    ]
    sources, problems = collect(environment, ["sms/en/diamond.j2"])
    assert problems == [] and "sms/en/shared.j2" in sources
