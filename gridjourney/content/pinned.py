"""A published version's templates: the exact sources a journey version sends, pinned when it was
published (gridjourney/dsl/registry.py) and rendered from at send time instead of `templates/`.

What a version pins (`collect`): for each (channel, template) its sends use, the template in every
locale present, for email its `.html.j2` part in those locales and the folder's `email/layout.html.j2`,
and every template those include, extend or import (jinja2.meta's find_referenced_templates), followed
to the end. A reference whose name is computed when rendering (`{% include "parts/" ~ name %}`) could
not be pinned: it is a problem located at the template's line, and the version is not published.

A source is the text the templates' loader reads (a byte-order mark dropped, line ends `\\n`); its
sha256 is over that text in UTF-8, which for a plain UTF-8 file is the file's own sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from jinja2 import BaseLoader, Environment, TemplateError, TemplateNotFound, meta, nodes

from gridjourney.content.template_source import located

EMAIL_LAYOUT = "email/layout.html.j2"
SUFFIX = ".j2"
HTML_SUFFIX = ".html.j2"
_REFERENCES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


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


def _unpinnable(path: str, node: nodes.Node) -> PinProblem:
    tag = "from ... import" if isinstance(node, nodes.FromImport) else type(node).__name__.lower()
    return PinProblem(
        f"{path}:{node.lineno}",
        f"`{{% {tag} %}}` names its template with an expression, which cannot be pinned to the "
        "published version",
        'name the template literally, e.g. `{% include "email/parts/footer.j2" %}`',
    )


def send_paths(templates_dir: Path, channel: str, template: str) -> list[str]:
    """The files a send of `template` on `channel` renders from directly (before their references)."""
    channel_dir = templates_dir / channel
    locales = sorted(d.name for d in channel_dir.iterdir() if d.is_dir()) if channel_dir.is_dir() else []
    paths = [f"{channel}/{locale}/{template}{SUFFIX}" for locale in locales]
    if channel == "email":
        paths += [f"email/{locale}/{template}{HTML_SUFFIX}" for locale in locales]
        paths.append(EMAIL_LAYOUT)
    return [path for path in paths if (templates_dir / path).is_file()]


def collect(environment: Environment, roots: Iterable[str]) -> tuple[dict[str, str], list[PinProblem]]:
    """The sources of `roots` and of every template they reach by include/extends/import, as
    `environment`'s loader reads them, and what could not be pinned. A reference to a template that
    does not exist is left out (a rendering would not find it either); one that cannot be read or
    parsed is a problem, as is a name computed when rendering."""
    assert environment.loader is not None
    sources: dict[str, str] = {}
    problems: list[PinProblem] = []
    pending = list(roots)
    while pending:
        path = pending.pop()
        if path in sources:
            continue
        try:
            source, _, _ = environment.loader.get_source(environment, path)
            sources[path] = source
            tree = environment.parse(source, name=path)
        except TemplateNotFound:
            continue
        except TemplateError as error:
            where = located(path, error)
            problems.append(PinProblem(where, str(error.message or error), "fix the template"))
            continue
        for node in tree.find_all(_REFERENCES):
            for name in meta.find_referenced_templates(nodes.Template([node], lineno=node.lineno)):
                if name is None:
                    problems.append(_unpinnable(path, node))
                elif name not in sources:
                    pending.append(name)
    return sources, problems
