"""A published version's templates: the exact sources a journey version sends, pinned when it was
published (gridjourney/dsl/registry.py) and rendered from at send time instead of `templates/`.

What a version pins (`collect`): for each (channel, template) its sends use, the template in every
locale present, for email its `.html.j2` part in those locales and the folder's `email/layout.html.j2`,
and every template those include, extend or import (jinja2.meta's find_referenced_templates), followed
to the end. A reference whose name is computed when rendering (`{% include "parts/" ~ name %}`) could
not be pinned, and one naming a template that does not exist (a name outside the folder is never
found) could never render from the pins, even once the file is back: each is a problem located at the
template's line, and the version is not published. Accepted: `{% include ... ignore missing %}`, and a
list include (`{% include ["a.j2", "b.j2"] %}`) one of whose names exists (those that exist are pinned).

A source is the text the templates' loader reads (a byte-order mark dropped, line ends `\\n`); its
sha256 is over that text in UTF-8, which for a plain UTF-8 file is the file's own sha256.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from jinja2 import BaseLoader, Environment, TemplateError, TemplateNotFound, meta, nodes

from gridjourney.content.template_source import located
from gridjourney.events.fields import LOCALE_PATTERN

EMAIL_LAYOUT = "email/layout.html.j2"
SUFFIX = ".j2"
HTML_SUFFIX = ".html.j2"
_REFERENCES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
# Templates are short texts (an SMS, an email of a few paragraphs): a bigger file is refused before it
# is parsed, which costs seconds per megabyte on every publish and validate.
MAX_TEMPLATE_BYTES = 64 * 1024


def source_sha256(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class PinnedTemplates:
    """Template path → source, as one version pinned them. `label` names them in errors
    (`high_bill_alert version 3`). Its environments are made once (content/render.py) and kept here:
    the sources never change, so Jinja need not ask whether a loaded template is up to date."""

    def __init__(self, sources: Mapping[str, str], label: str) -> None:
        self.sources = dict(sources)
        self.label = label
        self.environments: dict[bool, Environment] = {}  # autoescape → environment

    def __contains__(self, path: object) -> bool:
        return path in self.sources

    def __str__(self) -> str:
        return f"the templates pinned by {self.label}"

    def locales(self, channel: str, template: str) -> list[str]:
        """Every locale that has this template, sorted."""
        prefix, suffix = f"{channel}/", f"/{template}{SUFFIX}"
        found = (
            path.removeprefix(prefix).removesuffix(suffix)
            for path in self.sources
            if path.startswith(prefix) and path.endswith(suffix) and not path.endswith(HTML_SUFFIX)
        )
        return sorted(locale for locale in found if locale and "/" not in locale)


class PinnedLoader(BaseLoader):
    """The pinned sources; a template's file name is its path, so an error's line is found in the
    traceback as for a file (content/template_source.py `located`)."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        if template not in self.sources:
            raise TemplateNotFound(template)
        return self.sources[template], template, lambda: True

    def list_templates(self) -> list[str]:
        return sorted(self.sources)


class PinProblem(ValueError):
    """A template that cannot be pinned: `where` is `path:line`; `hint` says what to do."""

    def __init__(self, where: str, reason: str, hint: str) -> None:
        self.where, self.reason, self.hint = where, reason, hint
        super().__init__(f"template {where}: {reason}")


def oversized(path: str, size: int) -> PinProblem | None:
    """The problem with a template of `size` bytes (in UTF-8), if it is past MAX_TEMPLATE_BYTES."""
    if size <= MAX_TEMPLATE_BYTES:
        return None
    return PinProblem(
        path,
        f"{size:,} bytes, more than the {MAX_TEMPLATE_BYTES:,} (64 KiB) a template may have",
        "shorten it, or split it into parts it includes",
    )


def _unpinnable(path: str, node: nodes.Node) -> PinProblem:
    tag = _tag(node)
    return PinProblem(
        f"{path}:{node.lineno}",
        f"`{{% {tag} %}}` names its template with an expression, which cannot be pinned to the "
        "published version",
        'name the template literally, e.g. `{% include "email/parts/footer.j2" %}`',
    )


_LOCALE = re.compile(LOCALE_PATTERN)


def send_paths(templates_dir: Path, channel: str, template: str) -> list[str]:
    """The files a send of `template` on `channel` renders from directly (before their references)."""
    channel_dir = templates_dir / channel
    # Only folders a customer's locale can name (a language tag, as events/fields.py takes them): a
    # `.hidden` or `e n` folder is never rendered, so it is not pinned either.
    locales = (
        sorted(d.name for d in channel_dir.iterdir() if d.is_dir() and _LOCALE.match(d.name))
        if channel_dir.is_dir()
        else []
    )
    paths = [f"{channel}/{locale}/{template}{SUFFIX}" for locale in locales]
    if channel == "email":
        paths += [f"email/{locale}/{template}{HTML_SUFFIX}" for locale in locales]
        paths.append(EMAIL_LAYOUT)
    return [path for path in paths if (templates_dir / path).is_file()]


def collect(environment: Environment, roots: Iterable[str]) -> tuple[dict[str, str], list[PinProblem]]:
    """The sources of `roots` and of every template they reach by include/extends/import, as
    `environment`'s loader reads them, and what could not be pinned: a reference to a template that
    does not exist (a send of the version could never render it, even once the file is back, since
    its pins never change), one that cannot be read or parsed or is past MAX_TEMPLATE_BYTES, and a
    name computed when rendering.
    Still pinned: `{% include ... ignore missing %}` of a template that does not exist (left out),
    and a list include at least one of whose names exists (those that exist)."""
    reader = _Reader(environment)
    problems: list[PinProblem] = []
    pending = [root for root in roots if reader.exists(root)]  # a root gone meanwhile: not sent
    parsed: set[str] = set()
    references: dict[str, list[tuple[str, nodes.Node]]] = {}  # path → (name, the node naming it)
    while pending:
        path = pending.pop()
        if path in parsed or path not in reader.sources:  # done, or unreadable (its problem is said)
            continue
        parsed.add(path)
        try:
            tree = environment.parse(reader.sources[path], name=path)
        except TemplateError as error:
            problems.append(PinProblem(located(path, error), str(error.message or error), "fix the template"))
            continue
        for node in tree.find_all(_REFERENCES):
            names, problem = _referenced(reader, path, node)
            pending += names
            references.setdefault(path, []).extend((name, node) for name in names)
            if problem is not None:
                problems.append(problem)
    problems += reader.problems + _cycles(references)
    return reader.sources, problems


def _cycles(references: Mapping[str, list[tuple[str, nodes.Node]]]) -> list[PinProblem]:
    """A template that reaches itself again (`a` includes `b`, which includes `a`) renders without
    end: every send of the version would fail, and its pins never change. One problem per cycle,
    at the reference that closes it. Walked without recursion: chains may be long."""
    problems: list[PinProblem] = []
    done: set[str] = set()
    for start in references:
        if start in done:
            continue
        trail: list[str] = [start]  # the templates on the current path, in order
        branches = [iter(references.get(start, []))]
        while branches:
            step = next(branches[-1], None)
            if step is None:
                done.add(trail.pop())
                branches.pop()
                continue
            name, node = step
            if name in trail:
                chain = " → ".join([*trail[trail.index(name) :], name])
                problems.append(
                    PinProblem(
                        f"{trail[-1]}:{node.lineno}",
                        f'`{{% {_tag(node)} %}}` of "{name}" leads back to itself ({chain}): it would '
                        "render without end",
                        "take the repeated part into a template of its own that includes nothing back",
                    )
                )
            elif name not in done:
                trail.append(name)
                branches.append(iter(references.get(name, [])))
    return problems


class _Reader:
    """The templates `collect` has read (path → source), each read once. One that exists but cannot
    be read is a problem at its own path (and counts as existing: the reference is not to blame)."""

    def __init__(self, environment: Environment) -> None:
        assert environment.loader is not None
        self.environment, self.loader = environment, environment.loader
        self.sources: dict[str, str] = {}
        self.missing: set[str] = set()
        self.unreadable: set[str] = set()
        self.problems: list[PinProblem] = []

    def exists(self, path: str) -> bool:
        """Whether `path` is a template (a name outside the folder never is); read it if so."""
        if path in self.sources or path in self.unreadable:
            return True
        if path in self.missing:
            return False
        try:
            self.sources[path], _, _ = self.loader.get_source(self.environment, path)
        except TemplateNotFound:
            self.missing.add(path)
            return False
        except TemplateError as error:
            self.unreadable.add(path)
            self.problems.append(
                PinProblem(located(path, error), str(error.message or error), "fix the template")
            )
            return True
        too_big = oversized(path, len(self.sources[path].encode("utf-8")))
        if too_big is not None:  # neither parsed nor pinned
            del self.sources[path]
            self.unreadable.add(path)
            self.problems.append(too_big)
        return True


def _referenced(reader: _Reader, path: str, node: nodes.Node) -> tuple[list[str], PinProblem | None]:
    """The templates `node` (an include, extends or import in `path`) names that can be read, and
    its problem if any: a name computed when rendering, or a name that does not exist."""
    names = list(meta.find_referenced_templates(nodes.Template([node], lineno=node.lineno)))
    if None in names:
        return [], _unpinnable(path, node)
    wanted = [name for name in names if name is not None]
    absent = [name for name in wanted if not reader.exists(name)]
    found = [name for name in wanted if name in reader.sources]
    if not absent or (isinstance(node, nodes.Include) and node.ignore_missing):
        return found, None
    # a list include renders the first of its names that exists: one is enough
    if isinstance(node, nodes.Include) and len(absent) < len(wanted):
        return found, None
    return found, _missing(path, node, absent)


def _missing(path: str, node: nodes.Node, absent: list[str]) -> PinProblem:
    tag = _tag(node)
    named = ", ".join(f'"{name}"' for name in absent)
    which = "which does not exist" if len(absent) == 1 else "none of which exists"
    hint = (
        "create it or fix its name (from the templates folder): the published version pins its "
        "templates, so none of its sends could render this, even once the file is back"
    )
    if isinstance(node, nodes.Include):
        hint += "; if the message may go without it, write `{% include ... ignore missing %}`"
    return PinProblem(
        f"{path}:{node.lineno}", f"`{{% {tag} %}}` names {named}, {which} in the templates folder", hint
    )


def _tag(node: nodes.Node) -> str:
    return "from ... import" if isinstance(node, nodes.FromImport) else type(node).__name__.lower()
