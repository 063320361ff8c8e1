"""What a template reads: the context paths (`event.projected_amount`) and the line each is first
read on, for the compiler's check of a journey's templates and for previews."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path

from jinja2 import Environment, TemplateError, TemplateNotFound, meta, nodes

from gridjourney.content.render import TemplateProblem, template_path, template_problem, text_environment
from gridjourney.content.template_source import TOO_DEEP


def template_variables(templates_dir: Path | str, channel: str, template: str, locale: str) -> set[str]:
    """The context paths a template reads: `customer`, `event.projected_amount`, `customer.plan.name`...

    A path stops at the first dynamic part (`event[key]` gives `event`). Names the template sets
    itself (`{% set %}`, loop variables) are not included. Raises TemplateProblem if it does not parse.
    """
    return set(template_reads(templates_dir, channel, template, locale))


def template_reads(templates_dir: Path | str, channel: str, template: str, locale: str) -> dict[str, int]:
    """template_variables, each with the template's line it is first read on."""
    env = text_environment(templates_dir)
    name = template_path(channel, template, locale)
    try:
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        tree = env.parse(source, name=name)
        # compiles the tree: an unknown filter or test is found here, not by the parser
        free = meta.find_undeclared_variables(tree)
    except TemplateNotFound:
        raise TemplateProblem(f"no template {name} in {templates_dir}") from None
    except TemplateError as error:
        raise template_problem(name, error, _with_suggestion(error, env)) from error
    except RecursionError:  # a tree the parser built but the walks cannot follow
        raise _too_deep(name) from None
    reads: dict[str, int] = {}
    try:
        for path, line in _paths(tree):
            if path.split(".")[0] in free:
                reads[path] = min(line, reads.get(path, line))
    except RecursionError:
        raise _too_deep(name) from None
    return reads


def _too_deep(name: str) -> TemplateProblem:
    return TemplateProblem(f"{name}:1: {TOO_DEEP}", where=f"{name}:1", reason=TOO_DEEP)


_UNKNOWN_FILTER = re.compile(r"No (filter|test) named '([^']*)'")


def _with_suggestion(error: TemplateError, env: Environment) -> str:
    """The error's message, with a did-you-mean for an unknown filter or test."""
    message = str(error.message or error).rstrip(".")
    found = _UNKNOWN_FILTER.search(message)
    if found is not None:
        kind, unknown = found.groups()
        known = sorted(env.filters if kind == "filter" else env.tests)
        close = difflib.get_close_matches(unknown, known, n=1)
        message += f" (did you mean `{close[0]}`?)" if close else f" (filters: {', '.join(known)})"
    return message


def _paths(node: nodes.Node) -> Iterator[tuple[str, int]]:
    """Dotted paths of the outermost `a.b.c` / `a["b"]` chains, with their lines; recurse elsewhere."""
    chain = _chain(node)
    if chain is not None:
        yield ".".join(chain), node.lineno
        return
    for child in node.iter_child_nodes():
        yield from _paths(child)


def _chain(node: nodes.Node) -> list[str] | None:
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return [node.name]
    if isinstance(node, nodes.Getattr):
        inner = _chain(node.node)
        return [*inner, node.attr] if inner is not None else None
    if isinstance(node, nodes.Getitem):
        inner = _chain(node.node)
        if inner is None:
            return None
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            return [*inner, node.arg.value]
        return None
    return None
