"""The content types each route takes a body in, as its OpenAPI operation documents them, found for a
request before routing (api/middleware.py InputGuard checks the type before it reads a byte).

A route documents its body either as a FastAPI body parameter (JSON: FastAPI parses nothing else) or,
when it reads the body raw, in `openapi_extra["requestBody"]["content"]`. A documented type also
stands for its common synonyms (`text/csv` for `application/csv`, ...), and a documented JSON type for
every JSON type: a missing Content-Type and `*/*+json`, which FastAPI and the events route read as
JSON.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import FastAPI, params
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import compile_path
from starlette.types import Scope

from gridjourney.api.problems import ApiProblem, FieldError

JSON = "application/json"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# Other names of a documented type that the routes reading it also take: unregistered or older ones.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "application/yaml": ("application/x-yaml", "text/yaml", "text/x-yaml"),
    "text/yaml": ("application/yaml", "application/x-yaml", "text/x-yaml"),
    "text/csv": ("application/csv",),
    "application/xml": ("text/xml",),
    "text/xml": ("application/xml",),
}


def is_json(content_type: str) -> bool:
    """A type FastAPI parses as JSON (no Content-Type at all included)."""
    return content_type in ("", JSON) or content_type.endswith("+json")


def documented_types(route: APIRoute) -> tuple[str, ...]:
    """The media types `route`'s OpenAPI operation gives its request body (empty: it takes none)."""
    request_body = (route.openapi_extra or {}).get("requestBody")
    content = request_body.get("content") if isinstance(request_body, dict) else None
    types = [str(media) for media in content] if isinstance(content, dict) else []
    if route.body_field is not None:
        form = isinstance(route.body_field.field_info, params.Form)
        types += [media for media in (FORM_TYPES if form else (JSON,)) if media not in types]
    return tuple(types)


def takes(content_type: str, documented: Sequence[str]) -> bool:
    """Whether a route documenting `documented` reads a body of `content_type` (no parameters)."""
    if content_type in documented:
        return True
    if is_json(content_type) and any(is_json(media) for media in documented):
        return True
    return any(content_type in SYNONYMS.get(media, ()) for media in documented)


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the prefix the app is mounted at (root_path)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


def unsupported_type(method: str, content_type: str, accepted: tuple[str, ...]) -> ApiProblem:
    """415 naming the types the route takes, in the detail, in `accepted` and (POST) in Accept-Post."""
    named = ", ".join(accepted)
    return ApiProblem(
        415,
        "unsupported-media-type",
        "Unsupported content type",
        f"got {content_type or 'no content type'}; send {' or '.join(accepted)}",
        [FieldError(field="Content-Type", reason=f"is {content_type or 'missing'}; accepted: {named}")],
        # RFC 9110 15.5.16: a 415 may say what the resource takes; Accept-Post is that header for POST.
        headers={"Accept-Post": named} if method == "POST" else {},
        extensions={"accepted": list(accepted)},
    )


class BodyTypes:
    """Maps a request (method and path) to the types its route documents for a body, or None when no
    route taking a body answers it (no body, no such path: the router answers as usual).

    Built from the app's routes at first use (a few ms, once: routes are all registered by then).
    A path that is a route's whole path wins over a pattern with parameters, as it would in routing
    unless a pattern registered earlier shadowed it (the route would then be unreachable anyway)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._exact: dict[tuple[str, str], tuple[str, ...]] | None = None
        self._patterns: list[tuple[frozenset[str], re.Pattern[str], tuple[str, ...]]] = []

    def _build(self) -> dict[tuple[str, str], tuple[str, ...]]:
        exact: dict[tuple[str, str], tuple[str, ...]] = {}
        for context in iter_route_contexts(self.app.routes):
            route, path = context.original_route, context.path
            if not isinstance(route, APIRoute) or path is None:
                continue
            documented = documented_types(route)
            if not documented:
                continue
            methods = frozenset(context.methods or ())
            if "{" in path:
                self._patterns.append((methods, compile_path(path)[0], documented))
            else:
                for method in methods:
                    exact.setdefault((method, path), documented)
        return exact

    def of(self, scope: Scope) -> tuple[str, ...] | None:
        if self._exact is None:
            self._exact = self._build()
        method, path = scope["method"], _route_path(scope)
        if (documented := self._exact.get((method, path))) is not None:
            return documented
        for methods, pattern, documented in self._patterns:
            if method in methods and pattern.match(path):
                return documented
        return None
