"""Rendering templates, and finding the variables a template uses (for the compiler's check).

Email gets two parts: the text template's output, and an HTML part rendered with autoescape on, from
`email/{locale}/{name}.html.j2` when that exists, else the text's paragraphs and lists poured into
`email/layout.html.j2` (or a bare page when the templates folder has no layout). Either way every
value a template prints lands in the HTML escaped: a customer named `<b>` reads as text.

Templates come from a folder (`templates/`), or from the sources a published journey version pinned
(content/pinned.py PinnedTemplates), which a send of that version renders from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
)
from jinja2.runtime import new_context
from jinja2.sandbox import SandboxedEnvironment

from gridjourney.content.email_layout import render_shaped, shaped_layout, shaped_source
from gridjourney.content.filters import FILTERS
from gridjourney.content.pinned import EMAIL_LAYOUT as EMAIL_LAYOUT
from gridjourney.content.pinned import HTML_SUFFIX as HTML_SUFFIX
from gridjourney.content.pinned import SUFFIX as SUFFIX
from gridjourney.content.pinned import PinnedLoader, PinnedTemplates
from gridjourney.content.template_source import (
    BoundedCompilation,
    NotUtf8,
    TemplateFiles,
    TemplateUnreadable,
    located,
    read_text,
)

DEFAULT_LOCALE = "en"
SUBJECT_PREFIX = "Subject:"
# Push templates name the page a notification opens on the line after the subject (the title).
URL_PREFIX = "URL:"
URL_STARTS = ("https://", "http://", "/")
# A template's first line may declare its purpose (`Purpose: safety`): metadata, never sent. Only
# templates marked safety may go out under a journey's `purpose: safety` (dsl/template_checks.py).
PURPOSE_PREFIX = "Purpose:"
PURPOSES = ("marketing", "informational", "safety")
# Channels whose templates carry a subject line (push uses it as the notification title).
SUBJECT_CHANNELS = frozenset({"email", "push"})
LIST_ITEM = "- "
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Used when a templates folder has no layout of its own: the blocks, escaped, in a bare page.
BARE_LAYOUT = (
    '<!DOCTYPE html><html lang="{{ locale }}"><head><meta charset="utf-8"><title>{{ subject }}</title>'
    "</head><body>{% for block in blocks %}{% if block.kind == 'list' %}<ul>{% for line in block.lines %}"
    "<li>{{ line }}</li>{% endfor %}</ul>{% else %}<p>{% for line in block.lines %}{{ line }}"
    "{% if not loop.last %}<br>{% endif %}{% endfor %}</p>{% endif %}{% endfor %}</body></html>"
)


class TemplateProblem(ValueError):
    """A template is missing, cannot be read, does not compile, or uses a variable the context lacks.
    `where` is the template's path, with the line (and column) when known: `sms/en/alert.j2:2`;
    `reason` is the message without it; `unreadable`: the file is not UTF-8 text."""

    def __init__(self, message: str, *, where: str = "", reason: str = "", unreadable: bool = False) -> None:
        super().__init__(message)
        self.where, self.reason, self.unreadable = where, reason or message, unreadable


def template_problem(name: str, error: Exception, reason: str | None = None) -> TemplateProblem:
    """`name:line: reason` of a Jinja error, or of a filter's (the line when Jinja or its traceback
    gives one)."""
    where = located(name, error)
    if reason is None:
        reason = str(error.message or error) if isinstance(error, TemplateError) else str(error)
    return TemplateProblem(
        f"{where}: {reason}", where=where, reason=reason, unreadable=isinstance(error, TemplateUnreadable)
    )


@dataclass(frozen=True)
class RenderedMessage:
    subject: str | None
    body: str
    locale: str
    html: str | None = None  # email: the HTML part (autoescaped)
    url: str | None = None  # push: the page the notification opens


class TemplateLookups:
    """Templates and files looked up once for a batch of renderings, not once per message: Jinja
    checks a loaded template's file on each `get_template`, and the email's HTML looks for two
    files. A batch (a cohort chunk's members) renders every message from the templates as its first
    message found them; a rendering without one looks everything up afresh."""

    def __init__(self) -> None:
        self._templates: dict[tuple[Environment, str], Template | None] = {}
        self._files: dict[tuple[str, str], bool] = {}

    def template(self, env: Environment, name: str) -> Template:
        """`env.get_template(name)`: raises TemplateNotFound (also when an earlier look-up found
        nothing) or TemplateError as it does."""
        key = (env, name)
        if key not in self._templates:
            try:
                self._templates[key] = env.get_template(name)
            except TemplateNotFound:
                self._templates[key] = None
        found = self._templates[key]
        if found is None:
            raise TemplateNotFound(name)
        return found

    def is_file(self, folder: str, name: str) -> bool:
        """Whether `name` in `folder` is a file."""
        key = (folder, name)
        if key not in self._files:
            # os.path on the resolved folder's string: a Path built per message cost more than the stat.
            self._files[key] = os.path.isfile(os.path.join(folder, name))
        return self._files[key]


# Names a plain dict (or its type) answers as attributes: the sandbox's own `getattr` handles those.
_DICT_ATTRIBUTES = frozenset(dir(dict)) | frozenset(dir(type))


class _Sandbox(BoundedCompilation, SandboxedEnvironment):
    """Jinja's sandbox, reading `customer.name` from a plain dict without first raising and catching
    AttributeError for the name (about a microsecond a lookup, several per message). What it returns
    is the sandbox's own answer: a dict has no attribute of a name outside `_DICT_ATTRIBUTES`, so the
    sandbox would take the item, or give undefined when there is none."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except LookupError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


# Where templates come from: a folder, or a published version's pinned sources.
Templates = Path | str | PinnedTemplates


def _sandbox(loader: BaseLoader, *, autoescape: bool, auto_reload: bool = True) -> SandboxedEnvironment:
    env = _Sandbox(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=autoescape,  # off for plain-text bodies: SMS, text email, push
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=auto_reload,
    )
    env.filters.update(FILTERS)
    return env


@lru_cache(maxsize=32)
def environment(templates_dir: str) -> SandboxedEnvironment:
    return _sandbox(TemplateFiles(templates_dir), autoescape=False)


@lru_cache(maxsize=32)
def html_environment(templates_dir: str) -> SandboxedEnvironment:
    return _sandbox(TemplateFiles(templates_dir), autoescape=True)


def pinned_environment(pinned: PinnedTemplates, *, autoescape: bool) -> SandboxedEnvironment:
    """The environment a version's pinned templates render in, made once per PinnedTemplates."""
    env = pinned.environments.get(autoescape)
    if env is None:
        # the sources never change: no up-to-date check on each get_template
        env = _sandbox(PinnedLoader(pinned.sources), autoescape=autoescape, auto_reload=False)
        pinned.environments[autoescape] = env
    assert isinstance(env, SandboxedEnvironment)
    return env


@lru_cache(maxsize=64)
def _resolved(templates_dir: Path | str) -> str:
    # Resolving walks the path's parts with a stat each: once per folder, not once per message.
    return str(Path(templates_dir).resolve())


def _env(templates: Templates) -> SandboxedEnvironment:
    if isinstance(templates, PinnedTemplates):
        return pinned_environment(templates, autoescape=False)
    return environment(_resolved(templates))


def text_environment(templates_dir: Path | str) -> SandboxedEnvironment:
    """The environment text templates (SMS, text email, push) of `templates_dir` are rendered in."""
    return _env(templates_dir)


def _html_env(templates: Templates) -> SandboxedEnvironment:
    if isinstance(templates, PinnedTemplates):
        return pinned_environment(templates, autoescape=True)
    return html_environment(_resolved(templates))


def _has(templates: Templates, name: str, lookups: TemplateLookups) -> bool:
    """Whether the templates have the file `name`."""
    if isinstance(templates, PinnedTemplates):
        return name in templates
    return lookups.is_file(_resolved(templates), name)


def template_path(channel: str, template: str, locale: str) -> str:
    return f"{channel}/{locale}/{template}{SUFFIX}"


def candidate_locales(locale: str | None) -> list[str]:
    """`es-MX` → [es-MX, es, en]: the customer's exact locale, its language, then the default."""
    chosen = [locale] if locale else []
    if locale and "-" in locale:
        chosen.append(locale.split("-")[0])
    chosen.append(DEFAULT_LOCALE)
    return list(dict.fromkeys(chosen))


def template_exists(
    templates_dir: Templates, channel: str, template: str, locale: str = DEFAULT_LOCALE
) -> bool:
    if isinstance(templates_dir, PinnedTemplates):
        return template_path(channel, template, locale) in templates_dir
    return (Path(templates_dir) / template_path(channel, template, locale)).is_file()


def template_locales(templates_dir: Templates, channel: str, template: str) -> list[str]:
    """Every locale that has this template, sorted."""
    if isinstance(templates_dir, PinnedTemplates):
        return templates_dir.locales(channel, template)
    channel_dir = Path(templates_dir) / channel
    if not channel_dir.is_dir():
        return []
    return sorted(d.name for d in channel_dir.iterdir() if (d / f"{template}{SUFFIX}").is_file())


def render(
    templates_dir: Templates,
    channel: str,
    template: str,
    locale: str | None,
    variables: Mapping[str, Any],
    lookups: TemplateLookups | None = None,
) -> RenderedMessage:
    """Render `template` for `channel` in the customer's locale (falling back to `en`), from a folder
    or a version's pinned templates; `lookups`: the batch's look-ups (TemplateLookups), if it renders
    many.

    Raises TemplateProblem when no template exists, or a variable is missing or a filter fails.
    """
    env = _env(templates_dir)
    lookups = lookups or TemplateLookups()
    for candidate in candidate_locales(locale):
        name = template_path(channel, template, candidate)
        try:
            compiled = lookups.template(env, name)
        except TemplateNotFound:
            continue
        except TemplateError as error:
            raise template_problem(name, error) from error
        try:
            text = render_template(compiled, variables)
        except TemplateError as error:
            raise template_problem(name, error) from error
        except (TypeError, ValueError, RecursionError) as error:  # a filter given a wrong value; a loop
            # of macros (a RecursionError is no TemplateError: it would be retried)
            raise template_problem(name, error) from error
        _, text = split_purpose(text)
        subject, body = split_subject(text, channel, name)
        url = None
        if channel == "push":
            url, body = split_url(body, name)
        html = None
        if channel == "email":
            html = render_html(templates_dir, template, candidate, variables, subject, body, lookups)
        return RenderedMessage(subject=subject, body=body, locale=candidate, html=html, url=url)
    tried = ", ".join(template_path(channel, template, c) for c in candidate_locales(locale))
    raise TemplateProblem(f"no template {template!r} for {channel}; looked for {tried} in {templates_dir}")


def render_template(template: Template, variables: Mapping[str, Any]) -> str:
    """`template.render(variables)`, with the template's globals read into a dict once per template:
    Jinja's own render walks its ChainMap of globals twice per call."""
    globals_ = _flat_globals(template)
    context = new_context(
        template.environment, template.name, template.blocks, dict(globals_, **variables), True, globals_
    )
    try:
        return template.environment.concat(template.root_render_func(context))
    except Exception:
        template.environment.handle_exception()


@lru_cache(maxsize=256)
def _flat_globals(template: Template) -> dict[str, Any]:
    # The environments' globals are set when they are made (`environment`) and never changed.
    return dict(template.globals)


def split_purpose(text: str) -> tuple[str | None, str]:
    """(declared purpose or None, the text without its `Purpose:` line)."""
    first, _, rest = text.partition("\n")
    if not first.startswith(PURPOSE_PREFIX):
        return None, text
    return first.removeprefix(PURPOSE_PREFIX).strip(), rest


def template_purpose(templates_dir: Path | str, channel: str, template: str, locale: str) -> str | None:
    """The purpose a template's first line declares (None: not declared).

    Read from the file, not from a rendering, so no variable can change it. Raises TemplateProblem
    when the template is missing or declares a purpose that does not exist.
    """
    name = template_path(channel, template, locale)
    try:
        first = read_text(Path(templates_dir) / name).partition("\n")[0]
    except NotUtf8 as error:
        where = f"{name}:{error.line}:{error.column}"
        raise TemplateProblem(
            f"{where}: {error.reason}", where=where, reason=error.reason, unreadable=True
        ) from error
    except OSError as error:
        raise TemplateProblem(f"{name}: {error}") from error
    declared, _ = split_purpose(first.rstrip("\r"))
    if declared is not None and declared not in PURPOSES:
        raise TemplateProblem(
            f"{name}: unknown purpose {declared!r} in the `{PURPOSE_PREFIX}` line; "
            f"use one of {', '.join(PURPOSES)}"
        )
    return declared


def split_subject(text: str, channel: str, name: str) -> tuple[str | None, str]:
    if channel not in SUBJECT_CHANNELS:
        return None, text.strip()
    first, _, rest = text.lstrip().partition("\n")
    if not first.startswith(SUBJECT_PREFIX):
        raise TemplateProblem(f"{name}: the first line must be `{SUBJECT_PREFIX} ...`")
    return first.removeprefix(SUBJECT_PREFIX).strip(), rest.strip()


def split_url(body: str, name: str) -> tuple[str | None, str]:
    """(the `URL:` line's address or None, the body without it). The line comes first in the body."""
    first, _, rest = body.partition("\n")
    if not first.startswith(URL_PREFIX):
        return None, body
    url = first.removeprefix(URL_PREFIX).strip()
    if not url.startswith(URL_STARTS) or any(map(str.isspace, url)):
        raise TemplateProblem(
            f"{name}: the `{URL_PREFIX}` line must give an https:// address or a /path, got {url!r}"
        )
    return url, rest.strip()


def text_blocks(body: str) -> list[dict[str, Any]]:
    """The text part as paragraphs and lists (runs of lines starting with `- `), for the layout."""
    blocks: list[dict[str, Any]] = []
    for paragraph in _PARAGRAPH_BREAK.split(body):
        in_list: bool | None = None  # each paragraph starts a new block
        lines: list[str] = []
        for line in paragraph.splitlines():
            if not line.strip():
                continue
            is_item = line.startswith(LIST_ITEM)
            if is_item is not in_list:
                in_list, lines = is_item, []
                blocks.append({"kind": "list" if is_item else "paragraph", "lines": lines})
            lines.append(line[len(LIST_ITEM) :] if is_item else line)
    return blocks


def render_html(
    templates_dir: Templates,
    template: str,
    locale: str,
    variables: Mapping[str, Any],
    subject: str | None,
    body: str,
    lookups: TemplateLookups | None = None,
) -> str:
    """The HTML part, with autoescape on: the template's own `.html.j2` in the same locale as its
    text, else the text's blocks in the folder's layout."""
    env = _html_env(templates_dir)
    lookups = lookups or TemplateLookups()
    own = f"email/{locale}/{template}{HTML_SUFFIX}"
    context = {**variables, "subject": subject, "locale": locale}
    if _has(templates_dir, own, lookups):
        name = own
    else:
        name = EMAIL_LAYOUT if _has(templates_dir, EMAIL_LAYOUT, lookups) else ""
        context["blocks"] = text_blocks(body)
    try:
        if name == own:
            return render_template(lookups.template(env, name), context).strip()
        compiled = lookups.template(env, name) if name else None
        # A layout that reads only the subject, locale and blocks: once per shape (content/email_layout.py).
        shaped = shaped_layout(compiled) if compiled is not None else shaped_source(env, BARE_LAYOUT)
        if shaped is not None:
            page = render_shaped(shaped, subject, locale, context["blocks"])
            if page is not None:
                return page
        return render_template(compiled or env.from_string(BARE_LAYOUT), context).strip()
    except (TemplateError, TypeError, ValueError, RecursionError) as error:
        raise template_problem(name or "the bare email layout", error) from error
