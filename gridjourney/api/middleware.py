"""ASGI middleware that keeps malformed input and unexpected errors from ever becoming a bare 500.

`InputGuard` refuses, before routing, what no route can store: NUL characters in the path or query;
a body of a type its route does not take (415 naming the types it takes, before a byte is read, so that
a large body of the wrong type is not answered 413 first: api/body_types.py); JSON bodies that are over
the size limit (read as they stream in, never past the limit), nested too deeply, or carry non-finite
numbers (`NaN`, `Infinity`, `1e400`), integers beyond 64 bits, NUL characters or lone surrogates. Text
bodies (YAML, XML, CSV) are checked for NUL bytes as the route reads them, and bounded by it
(api/deps.py read_limited_body). `LastResort` answers any exception
that escaped every handler with a problem document (503 for an outage, else 500) and logs it without
its message, which may quote personal data. `RateGate` answers 429 to event writes of a key whose rate
limit bucket is empty (api/auth.py RateLimiter) before anything else runs, the database included.
"""

from __future__ import annotations

import json
import logging
import math
import traceback
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridjourney.api.auth import RateLimiter, parse_key
from gridjourney.api.body_types import BodyTypes, is_json, takes, unsupported_type
from gridjourney.api.problems import (
    ApiProblem,
    FieldError,
    field_path,
    internal_error,
    invalid,
    problem_response,
    unavailable,
)
from gridjourney.config import Settings
from gridjourney.events.fields import FLOAT_LIMIT, INT64_MAX, clean_text_problem, json_number_problem
from gridjourney.outages import outage

log = logging.getLogger(__name__)

# The request state's entry for a JSON body InputGuard has parsed and checked (request.state.json_body).
JSON_BODY = "json_body"
TEXT_TYPES = ("text/", "application/xml", "application/yaml", "application/x-yaml", "application/csv")


class _Unfit:
    """A JSON number no route can use, kept in place by the parser so that its path can be named."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parse_float(text: str) -> float | _Unfit:
    # What jsonb cannot give back as it was sent (1e19, 1e-400) is refused, not changed (events/fields.py).
    value = float(text)
    problem = json_number_problem(text, value)
    return value if problem is None else _Unfit(problem)


def _parse_int(text: str) -> int | _Unfit:
    # Check the length first: int() of thousands of digits is slow, and refused beyond 4300.
    digits = text.lstrip("-")
    if len(digits) > 19 or abs(int(text)) > INT64_MAX:
        return _Unfit("out of range (64-bit integers only)")
    return int(text)


def _parse_constant(text: str) -> _Unfit:
    return _Unfit(f"{text} is not valid JSON (numbers must be finite)")


class _MayBeUnfit(ValueError):
    """The fast parse met a value that cannot be stored: the careful parse names where."""


def _fit_float(text: str) -> float:
    value = float(text)
    # A 0.0 not written as a zero (1e-400) underflowed: refused as well (json_number_problem).
    if -FLOAT_LIMIT < value < FLOAT_LIMIT and (value != 0.0 or json_number_problem(text, value) is None):
        return value
    raise _MayBeUnfit


def _fit_int(text: str) -> int:
    value = int(text) if len(text) <= 20 else INT64_MAX + 1
    if abs(value) > INT64_MAX:
        raise _MayBeUnfit
    return value


def _unfit(_: str) -> float:
    raise _MayBeUnfit


def parsed_json_body(raw: bytes) -> tuple[Any, list[FieldError] | None]:
    """(the body, []) when it is JSON whose every value can be stored; (None, the values that cannot)
    when some cannot; (None, None) when it is not JSON at all (the route reports that in its own words).
    Routes take the body from the request's state (JSON_BODY) instead of parsing it again."""
    # A NUL or a lone surrogate can only be written as a \\u escape, or (a surrogate) as bytes that
    # start with 0xED: a body without either holds clean text, and the parse checks its numbers.
    if b"\\u" not in raw and b"\xed" not in raw:
        try:
            return json.loads(raw, parse_float=_fit_float, parse_int=_fit_int, parse_constant=_unfit), []
        except RecursionError:
            return None, [FieldError(field="body", reason="nested too deeply")]
        except _MayBeUnfit:
            pass
        except ValueError:
            return None, None
    return _carefully_parsed(raw)


def json_body_problems(raw: bytes) -> list[FieldError] | None:
    """The values of a JSON body no route can store (an empty list: none), or None when it is not
    JSON at all."""
    return parsed_json_body(raw)[1]


def _carefully_parsed(raw: bytes) -> tuple[Any, list[FieldError] | None]:
    """parsed_json_body by a parse that keeps unfit numbers in place and a walk over every value."""
    try:
        body = json.loads(raw, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_parse_constant)
    except RecursionError:
        return None, [FieldError(field="body", reason="nested too deeply")]
    except ValueError:
        return None, None
    errors: list[FieldError] = []
    stack: list[tuple[Any, list[int | str]]] = [(body, [])]
    while stack and len(errors) < 20:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if (problem := clean_text_problem(key)) is not None:
                    errors.append(FieldError(field=field_path(path) or "body", reason=f"a key {problem}"))
                    continue
                stack.append((child, [*path, key]))
        elif isinstance(value, list):
            stack.extend((child, [*path, index]) for index, child in enumerate(value))
        elif isinstance(value, str):
            if (problem := clean_text_problem(value)) is not None:
                errors.append(FieldError(field=field_path(path) or "body", reason=problem))
        elif isinstance(value, _Unfit):
            errors.append(FieldError(field=field_path(path) or "body", reason=value.reason))
    if errors:
        return None, sorted(errors, key=lambda error: error.field)
    return body, []


def url_problems(scope: Scope) -> list[FieldError]:
    errors: list[FieldError] = []
    if "\x00" in scope.get("path", ""):
        errors.append(FieldError(field="path", reason="contains a NUL character (%00)"))
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            label = name.replace("\x00", "") or "query"
            errors.append(FieldError(field=label, reason="contains a NUL character (%00)"))
    return errors


def _content_type(scope: Scope) -> str:
    raw: bytes = dict(scope.get("headers", [])).get(b"content-type", b"")
    return raw.decode("latin-1").split(";")[0].strip().lower()


def _declared_length(scope: Scope) -> int | None:
    raw: bytes = dict(scope.get("headers", [])).get(b"content-length", b"")
    return int(raw) if raw.isdigit() else None


def too_large(limit: int) -> ApiProblem:
    return ApiProblem(
        413,
        "body-too-large",
        "The body is over the size limit",
        f"the limit is {limit} bytes; split the request",
        [FieldError(field="body", reason=f"larger than {limit} bytes")],
    )


class InputGuard:
    """`api` is the FastAPI application whose routes say which body types they take (None: every
    type goes on to the route, which checks its own)."""

    def __init__(self, app: ASGIApp, settings: Settings, api: FastAPI | None = None) -> None:
        self.app = app
        self.settings = settings
        self.body_types = BodyTypes(api) if api is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if errors := url_problems(scope):
            await _refuse(scope, receive, send, invalid("the URL carries a NUL character", errors))
            return
        content_type = _content_type(scope)
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and content_type == "":
            await self.app(scope, receive, send)
            return
        accepted = self.body_types.of(scope) if self.body_types is not None else None
        if accepted is not None and not takes(content_type, accepted):
            # The type first, whatever the size: a client that shrank the body would be refused again.
            await self._refuse_type(scope, receive, send, content_type, accepted)
        elif is_json(content_type):
            await self._guard_json(scope, receive, send)
        elif content_type.startswith(TEXT_TYPES):
            await self.app(scope, _refusing_nul(receive), send)
        else:
            await self.app(scope, receive, send)

    async def _refuse_type(
        self, scope: Scope, receive: Receive, send: Send, content_type: str, accepted: tuple[str, ...]
    ) -> None:
        """415, unless the request has no body at all (`curl -d ''` labels an empty body as a form):
        only the first chunk that holds a byte is read to tell."""
        message = await receive()
        while message["type"] == "http.request" and not message.get("body") and message.get("more_body"):
            message = await receive()
        if message["type"] == "http.request" and not message.get("body"):
            await self.app(scope, _replaying(b"", receive), send)
            return
        await _refuse(scope, receive, send, unsupported_type(scope["method"], content_type, accepted))

    async def _guard_json(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.settings.max_event_body_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, too_large(limit))  # refused before a byte is read
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: let the app see it as usual
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse(scope, receive, send, too_large(limit))
                return
            if not message.get("more_body", False):
                break
        raw = bytes(body)
        if raw:
            parsed, errors = parsed_json_body(raw)
            if errors:
                detail = f"{len(errors)} value(s) that cannot be stored; nothing was done"
                await _refuse(scope, receive, send, invalid(detail, errors))
                return
            if errors is not None:
                scope.setdefault("state", {})[JSON_BODY] = parsed
        await self.app(scope, _replaying(raw, receive), send)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the already-read body once, then defers to the client's."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _refusing_nul(receive: Receive) -> Receive:
    async def checked() -> Message:
        message = await receive()
        if message["type"] == "http.request" and b"\x00" in message.get("body", b""):
            raise invalid(
                "the body carries a NUL byte", [FieldError(field="body", reason="contains a NUL byte")]
            )
        return message

    return checked


async def _refuse(scope: Scope, receive: Receive, send: Send, problem: ApiProblem) -> None:
    await problem_response(Request(scope), problem)(scope, receive, send)


def _where(exc: BaseException) -> str:
    """Where `exc` was raised: file:line of the innermost frames, never the message."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return " < ".join(f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" for frame in reversed(frames))


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            dependency = outage(exc)
            method, path = scope.get("method"), getattr(scope.get("route"), "path", "(no route)")
            if dependency is not None:
                log.warning("%s unavailable during %s %s (%s)", dependency, method, path, type(exc).__name__)
            else:
                log.error("unexpected %s in %s %s at %s", type(exc).__name__, method, path, _where(exc))
            if started:
                raise  # the response is under way: the server can only close the connection
            problem = unavailable(dependency) if dependency is not None else internal_error()
            await _refuse(scope, receive, send, problem)


RATE_LIMITED_PATHS = frozenset({"/v1/events"})


def rate_limited(key_id: str, wait: float) -> ApiProblem:
    return ApiProblem(
        429,
        "rate-limited",
        "Too many requests for this API key",
        f"the key {key_id} is over its rate of event writes; retry after Retry-After seconds",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def _key_id(scope: Scope) -> str | None:
    headers = dict(scope.get("headers", []))
    raw = headers.get(b"x-api-key", b"").decode("latin-1")
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization[:7].lower() == "bearer ":
        raw = authorization[7:]
    parsed = parse_key(raw) if raw else None
    return parsed[0] if parsed else None


class RateGate:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in RATE_LIMITED_PATHS:
            key_id = _key_id(scope)
            wait = self.limiter.exhausted(key_id) if key_id else None
            if key_id and wait is not None:
                await _refuse(scope, receive, send, rate_limited(key_id, wait))
                return
        await self.app(scope, receive, send)


def install_middleware(app: FastAPI, settings: Settings, limiter: RateLimiter | None = None) -> None:
    # Added last = outermost: LastResort also answers for errors of InputGuard and of any middleware;
    # RateGate (the API's, with `limiter`) before InputGuard, so that a flood's bodies are not parsed.
    app.add_middleware(InputGuard, settings=settings, api=app)
    if limiter is not None:
        app.add_middleware(RateGate, limiter=limiter)
    app.add_middleware(LastResort)
